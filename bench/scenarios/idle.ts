import type { Scenario, ScenarioOptions } from './scenario.js';

/** Connections that only sit there: memory per connection, and CPU spent on heartbeats. */
export function idle(options: ScenarioOptions): Scenario {
  return {
    name: 'idle',
    channels: ['bench'],
    subs: options.subs,
    mode: 'idle',
    rate: 0,
    seconds: options.seconds,
    tidingsOnly: false,
  };
}
