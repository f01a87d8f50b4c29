import type { Scenario, ScenarioOptions } from './scenario.js';

/**
 * Many channels with one subscriber each (by default), publishes spread round-robin: routing and
 * per-channel bookkeeping cost instead of broadcast width.
 */
export function channels(options: ScenarioOptions): Scenario {
  const count = Math.max(1, Math.min(options.channels ?? options.subs, options.subs));
  return {
    name: 'channels',
    channels: Array.from({ length: count }, (_, i) => `bench.${i}`),
    subs: options.subs,
    mode: 'publish',
    rate: options.rate,
    seconds: options.seconds,
    tidingsOnly: false,
  };
}
