import { randomBytes } from 'node:crypto';

const EPOCH_LENGTH = 12;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// The largest multiple of the alphabet size below 256: bytes at or above it are rejected so every
// character is equally likely.
const BYTE_LIMIT = 256 - (256 % ALPHABET.length);

/**
 * A new epoch: 12 random letters and digits (about 71 bits), so a channel that loses its positions (a
 * restart of the memory engine, a failover, a forgotten channel) never gives an old position a second
 * meaning. Letters and digits only, so an epoch needs no escaping in a cursor, an SSE id or a URL.
 * Every engine takes its epochs from here.
 */
export function newEpoch(): string {
  let epoch = '';
  while (epoch.length < EPOCH_LENGTH) {
    for (const byte of randomBytes(EPOCH_LENGTH)) {
      if (byte < BYTE_LIMIT) epoch += ALPHABET[byte % ALPHABET.length];
      if (epoch.length === EPOCH_LENGTH) break;
    }
  }
  return epoch;
}
