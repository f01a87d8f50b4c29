import { type Scenario, ScenarioNotImplemented, type ScenarioOptions } from './scenario.js';

/**
 * Planned: two Tidings server processes sharing the Redis engine, publishing on one and subscribing on
 * the other; measures the cross-process hop.
 */
export function redis(_options: ScenarioOptions): Scenario {
  throw new ScenarioNotImplemented('scenario "redis" is not implemented yet (needs @tidings/redis)');
}
