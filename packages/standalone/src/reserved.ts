import { isPattern, patternMatcher } from '@tidings/protocol';

/**
 * Channels the standalone server keeps for itself: the control channel that carries
 * `/api/disconnect` to every process on the engine, the channel the health check reads, and the one
 * the processes report their load on (the dashboard). Clients
 * and the API may neither use them nor subscribe to a pattern that would match them.
 */
export const RESERVED_PREFIX = '_tidings';
export const CONTROL_CHANNEL = `${RESERVED_PREFIX}.control`;
export const HEALTH_CHANNEL = `${RESERVED_PREFIX}.health`;
/** Each process's load report, for the dashboard's per-process breakdown. */
export const PROCESSES_CHANNEL = `${RESERVED_PREFIX}.processes`;

const RESERVED = [CONTROL_CHANNEL, HEALTH_CHANNEL, PROCESSES_CHANNEL];

export function isReserved(channelOrPattern: string): boolean {
  if (channelOrPattern === RESERVED_PREFIX || channelOrPattern.startsWith(`${RESERVED_PREFIX}.`)) return true;
  if (!isPattern(channelOrPattern)) return false;
  const matches = patternMatcher(channelOrPattern);
  return RESERVED.some((channel) => matches(channel));
}
