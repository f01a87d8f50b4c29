// Under `npx tidings serve` (and `npm run` scripts) npm runs the command through `sh -c`, which forks
// the server instead of replacing itself. npm forwards SIGTERM to that shell only: the shell dies and
// the server, reparented, would never hear the signal and keep running. So when npm started us, the
// parent going away is taken as the signal npm was given.

const POLL_MS = 250;

/** Whether npm started this process (npx, npm exec, npm run): it sets `npm_lifecycle_event`. */
export function startedByNpm(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.npm_lifecycle_event !== undefined;
}

/**
 * Calls `onGone` once when this process's parent exits (the process is reparented). Returns the
 * function that stops watching. The timer does not keep the process alive.
 */
export function watchParent(onGone: () => void, pollMs = POLL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
