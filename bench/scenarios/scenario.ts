/** What one run does, whatever the target: who subscribes where, and what gets published. */
export interface Scenario {
  name: string;
  channels: string[];
  subs: number;
  /**
   * `publish`: measure delivery of published messages; `idle`: hold connections and measure their cost;
   * `broadcast`: publish one message at a time and time it until the last subscriber has it.
   */
  mode: 'publish' | 'idle' | 'broadcast';
  /** Messages per second over all channels; 0 = as fast as delivery keeps up. */
  rate: number;
  seconds: number;
  /** Runs only against Tidings targets (it exercises Tidings features the baselines lack). */
  tidingsOnly: boolean;
  /** Reconnect scenario: drop every connection this far into the publishing (0-1), then resume. */
  dropAt?: number;
  /** Broadcast scenario: how many messages, each timed alone. */
  repeats?: number;
}

export interface ScenarioOptions {
  subs: number;
  rate: number;
  seconds: number;
  /** Channel count for `channels`; defaults to one per subscriber. */
  channels?: number;
  /** Broadcast scenario: messages, each timed alone. */
  repeats?: number;
}

/** Subscribers of each channel: subscriber i reads channel i mod channels.length. */
export function subscribersPerChannel(scenario: Scenario): number[] {
  const c = scenario.channels.length;
  return scenario.channels.map((_, i) => Math.floor(scenario.subs / c) + (i < scenario.subs % c ? 1 : 0));
}

export class ScenarioNotImplemented extends Error {
  override readonly name = 'ScenarioNotImplemented';
}
