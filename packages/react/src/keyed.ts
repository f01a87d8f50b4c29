import { useState } from 'react';

/**
 * A value made once per `key` and kept across renders, made anew when the key changes. Kept in state,
 * not a ref or a memo: React may drop a memo, and a ref written during a render that is then thrown away
 * (concurrent rendering) would keep what that render made. Making the value must not start anything:
 * the stores here subscribe only when React subscribes to them.
 */
export function useKeyed<T>(key: readonly unknown[], make: () => T): T {
  const [held, setHeld] = useState(() => ({ key, value: make() }));
  if (sameKey(held.key, key)) return held.value;
  // Setting state while rendering: React renders this component again at once with the new value.
  const next = { key, value: make() };
  setHeld(next);
  return next.value;
}

function sameKey(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((item, i) => Object.is(item, b[i]));
}
