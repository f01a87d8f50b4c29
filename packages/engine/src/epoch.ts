import { randomBytes } from 'node:crypto';

const EPOCH_LENGTH = 12;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// The largest multiple of the alphabet size below 256: bytes at or above it are rejected so every
// character is equally likely.
const BYTE_LIMIT = 256 - (256 % ALPHABET.length);

// Random bytes are drawn a pool at a time: an engine asks for a candidate epoch on every publish (in
// case the channel turns out to be new), and one randomBytes call per publish cost a tenth of a Redis
// publish's CPU. Pooled bytes are as random as fresh ones; each is used once.
const POOL_SIZE = 4_096;
let pool = randomBytes(POOL_SIZE);
let next = 0;

function randomByte(): number {
  if (next === POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    next = 0;
  }
  return pool[next++] as number;
}

/**
 * A new epoch: 12 random letters and digits (about 71 bits), so a channel that loses its positions (a
 * restart of the memory engine, a failover, a forgotten channel) never gives an old position a second
 * meaning. Letters and digits only, so an epoch needs no escaping in a cursor, an SSE id or a URL.
 * Every engine takes its epochs from here.
 */
export function newEpoch(): string {
  let epoch = '';
  while (epoch.length < EPOCH_LENGTH) {
    const byte = randomByte();
    if (byte < BYTE_LIMIT) epoch += ALPHABET[byte % ALPHABET.length];
  }
  return epoch;
}
