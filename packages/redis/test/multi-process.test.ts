// Several Tidings server processes (real OS processes) on one Redis prefix, no sticky sessions:
// exactly-once in-order delivery across processes, a process killed mid-stream, Redis losing the data.
import { test } from 'node:test';
import { killScenario, spreadScenario } from '@tidings/server/testing';
import { deleteKeys, withRedis } from './support.js';

const LIMIT = { timeout: 60_000 };

await withRedis((admin, runPrefix) => {
  test('three processes, clients spread over them: every message once, in order', LIMIT, async (t) => {
    const prefix = `${runPrefix}spread:`;
    t.after(() => deleteKeys(admin, prefix));
    await spreadScenario(t, { kind: 'redis', prefix });
  });

  test(
    'a process killed mid-stream: its clients resume on the others, nothing lost or repeated',
    LIMIT,
    async (t) => {
      const prefix = `${runPrefix}kill:`;
      t.after(() => deleteKeys(admin, prefix));
      await killScenario(t, { kind: 'redis', prefix });
    },
  );
});
