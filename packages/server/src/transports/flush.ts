/** Something that holds its writes back (corked) until `flush()`. */
export interface Flushable {
  flush(): void;
}

const pending: Flushable[] = [];

function flushAll(): void {
  // A flush may queue another target; the loop picks it up.
  for (let i = 0; i < pending.length; i++) pending[i].flush();
  pending.length = 0;
}

/**
 * Flushes `target` once the current burst of work is done. A connection corks its socket on its first
 * write of an event-loop turn and asks for this: every frame of that turn then leaves in one syscall,
 * and one scheduled callback serves every connection.
 */
export function flushSoon(target: Flushable): void {
  if (pending.push(target) === 1) setImmediate(flushAll);
}
