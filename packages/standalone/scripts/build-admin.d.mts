export function buildAdmin(): Promise<void>;
