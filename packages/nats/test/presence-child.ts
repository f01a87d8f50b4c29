// A process with presence members on NATS, for presence-kill.test.ts: joins the members it is given
// (TIDINGS_PRESENCE_CHILD: {stream, subjectPrefix, ttlMs, channel, clients}), says `ready` on
// stdout, then waits to be killed.
import { NatsEngine } from '../src/index.js';
import { NATS_URL } from './nats-helpers.js';

const config = JSON.parse(process.env.TIDINGS_PRESENCE_CHILD ?? '{}') as {
  stream: string;
  subjectPrefix: string;
  ttlMs: number;
  channel: string;
  clients: string[];
};
const engine = new NatsEngine({
  servers: NATS_URL,
  storage: 'memory',
  stream: config.stream,
  subjectPrefix: config.subjectPrefix,
  presenceTtlMs: config.ttlMs,
});
for (const client of config.clients) {
  await engine.presence.join(config.channel, { client, user: `user-${client}` });
}
process.stdout.write('ready\n');
// Kept alive by the engine's connection until the test kills this process.
