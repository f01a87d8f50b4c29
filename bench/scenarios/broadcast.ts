import type { Scenario, ScenarioOptions } from './scenario.js';

/** Broadcasts timed one at a time by default: enough for a median and a worst case. */
export const DEFAULT_REPEATS = 10;

/**
 * One channel, every subscriber on it; one message is published, and the broadcast is timed until the
 * last subscriber has it, then the next one (`--repeats` in all). How long one message takes to reach
 * everyone, at 1,000 or at 19,000 connections.
 */
export function broadcast(options: ScenarioOptions): Scenario {
  return {
    name: 'broadcast',
    channels: ['bench'],
    subs: options.subs,
    mode: 'broadcast',
    rate: 0,
    seconds: options.seconds,
    tidingsOnly: false,
    repeats: options.repeats ?? DEFAULT_REPEATS,
  };
}
