import type { Scenario, ScenarioOptions } from './scenario.js';

/** One channel, every subscriber on it: the broadcast path at its widest. */
export function fanout(options: ScenarioOptions): Scenario {
  return {
    name: 'fanout',
    channels: ['bench'],
    subs: options.subs,
    mode: 'publish',
    rate: options.rate,
    seconds: options.seconds,
    tidingsOnly: false,
  };
}
