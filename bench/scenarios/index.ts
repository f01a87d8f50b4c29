import { broadcast } from './broadcast.js';
import { channels } from './channels.js';
import { fanout } from './fanout.js';
import { idle } from './idle.js';
import { reconnect } from './reconnect.js';
import { redis } from './redis.js';
import type { Scenario, ScenarioOptions } from './scenario.js';

export const scenarios: Record<string, (options: ScenarioOptions) => Scenario> = {
  fanout,
  channels,
  idle,
  reconnect,
  redis,
  broadcast,
};
