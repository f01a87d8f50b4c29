/**
 * A random idempotency key (128 bits, hex). `crypto.getRandomValues` rather than `randomUUID`: the
 * latter exists only in secure contexts, and a page served over plain http on a LAN must still publish.
 */
export function randomKey(): string {
  let key = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(16))) key += (byte + 256).toString(16).slice(1);
  return key;
}
