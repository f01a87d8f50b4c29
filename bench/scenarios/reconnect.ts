import { type Scenario, ScenarioNotImplemented, type ScenarioOptions } from './scenario.js';

/**
 * Planned (Tidings only): drop every subscriber's connection mid-run and let it resume from its
 * position; measures catch-up time and checks nothing is lost or repeated across the reconnect.
 */
export function reconnect(_options: ScenarioOptions): Scenario {
  throw new ScenarioNotImplemented('scenario "reconnect" is planned, not implemented yet');
}
