// Several Tidings server processes (real OS processes) on one JetStream stream, no sticky sessions:
// exactly-once in-order delivery across processes, a process killed mid-stream, and presence across
// processes (one of them SIGKILLed: its members leave within the presence TTL).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type EngineConfig,
  killScenario,
  presenceScenario,
  rollingRestartScenario,
  spreadScenario,
} from '@tidings/testing';
import { deleteStreams, NATS_URL, namespace, natsUnavailable } from './nats-helpers.js';

const LIMIT = { timeout: 60_000 };

/** A stream of its own for one test, deleted afterwards. */
function ownStream(
  t: { after(fn: () => unknown): void },
  label: string,
  presenceTtlMs?: number,
): EngineConfig {
  const { stream, subjectPrefix } = namespace(label);
  t.after(() => deleteStreams(stream));
  return { kind: 'nats', servers: NATS_URL, stream, subjectPrefix, presenceTtlMs };
}

const unavailable = await natsUnavailable();
if (unavailable !== null && process.env.CI === 'true') {
  test('NATS JetStream is reachable (required with CI=true)', () => assert.fail(unavailable));
} else if (unavailable !== null) {
  console.log(`${unavailable}: skipping the multi-process NATS tests (they fail instead with CI=true)`);
  test('multi-process NATS tests', { skip: `${unavailable} (set CI=true to fail instead)` }, () => undefined);
} else {
  test('three processes, clients spread over them: every message once, in order', LIMIT, async (t) => {
    await spreadScenario(t, ownStream(t, 'MP_SPREAD'));
  });

  test(
    'a process killed mid-stream: its clients resume on the others, nothing lost or repeated',
    LIMIT,
    async (t) => {
      await killScenario(t, ownStream(t, 'MP_KILL'));
    },
  );

  test(
    'a rolling restart under traffic (SIGTERM, replace, twice): nothing lost or repeated',
    LIMIT,
    async (t) => {
      await rollingRestartScenario(t, ownStream(t, 'MP_ROLL'));
    },
  );

  test(
    'presence across processes: listed everywhere, joins and leaves heard, the members of a SIGKILLed one dropped',
    LIMIT,
    async (t) => {
      await presenceScenario(t, ownStream(t, 'MP_PRES', 1_500), 1_500);
    },
  );
}
