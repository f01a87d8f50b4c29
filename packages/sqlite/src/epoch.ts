import { randomBytes } from 'node:crypto';

/** A new epoch: 12 random URL-safe characters, so a channel's positions never mean two things. */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}
