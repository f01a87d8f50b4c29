import { randomBytes } from 'node:crypto';

/**
 * A new epoch: 12 random URL-safe characters (72 bits), so a channel that loses its positions (a
 * restart of the memory engine, a failover, a forgotten channel) never gives an old position a second
 * meaning. Every engine takes its epochs from here.
 */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}
