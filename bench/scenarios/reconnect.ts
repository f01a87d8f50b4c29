import type { Scenario, ScenarioOptions } from './scenario.js';

/**
 * Mass reconnect (Tidings only): one channel, publishing at a fixed rate; halfway through, every
 * subscriber's connection is dropped at once on the client side and each resumes from the position of
 * the last message it received. Measures how long until all are caught up, and checks that every
 * subscriber still saw 1..n exactly once, in order, across the reconnect.
 */
export function reconnect(options: ScenarioOptions): Scenario {
  if (options.rate <= 0) throw new Error('scenario "reconnect" needs a fixed --rate > 0');
  return {
    name: 'reconnect',
    channels: ['bench'],
    subs: options.subs,
    mode: 'publish',
    rate: options.rate,
    seconds: options.seconds,
    tidingsOnly: true,
    dropAt: 0.5,
  };
}
