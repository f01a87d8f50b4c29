import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { benchData, padding } from './lib/payload.js';
import { findTarget } from './targets/index.js';
import type { BenchClient, BenchServer } from './targets/target.js';

/**
 * What one idle connection holds on the server, by heap-snapshot diff:
 *
 *   node --conditions=@tidings/source --import tsx bench/conn-memory.ts --target tidings-ws --subs 2000
 *
 * The target's server runs in a child process (as in the bench). This process opens `--warm`
 * connections (so lazily built shared state is in the baseline), has the server publish one message
 * (as the bench's priming does), snapshots the server's heap, opens `--subs` more, publishes again,
 * snapshots again, and prints per connection what was added, grouped by constructor (objects),
 * function name (closures) or V8's own name (arrays, strings, system objects). `--why 'object/Object'`
 * says who holds the new nodes of a row. The snapshots go to the temp directory and are removed.
 */

interface FromChild {
  type: 'listening' | 'published' | 'snapshot';
  port?: number;
  path?: string;
  heapUsed?: number;
  rss?: number;
}

type ToChild =
  | { type: 'start'; target: string }
  | { type: 'publish' }
  | { type: 'snapshot'; path: string }
  | { type: 'close' };

// ---- server side ----------------------------------------------------------------------------------

async function serve(): Promise<void> {
  let server: BenchServer | undefined;
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (message: ToChild) => {
    if (message.type === 'start') {
      server = await (await findTarget(message.target).server())({});
      process.send?.({ type: 'listening', port: server.port } satisfies FromChild);
    } else if (message.type === 'publish') {
      // As the bench's priming does: afterwards each connection's position is the message's, shared.
      await server?.publish('bench', benchData(0, padding(100)));
      process.send?.({ type: 'published' } satisfies FromChild);
    } else if (message.type === 'snapshot') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      writeHeapSnapshot(message.path);
      const { heapUsed, rss } = process.memoryUsage();
      process.send?.({ type: 'snapshot', path: message.path, heapUsed, rss } satisfies FromChild);
    } else {
      await server?.close();
      process.exit(0);
    }
  });
}

// ---- snapshot parsing -----------------------------------------------------------------------------

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  bytes: number;
}

/** The row a node counts in: strings and numbers by kind, not by content (mostly unique). */
function keyOf(type: string, name: string): string {
  if (/string|number|code/.test(type)) return `${type}\t`;
  return `${type}\t${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
}

/** Self sizes of the heap's nodes, grouped by kind and name. */
function groups(path: string): Map<string, Group> {
  const data = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, Group>();
  const { nodes, strings } = data;
  for (let i = 0; i < nodes.length; i += width) {
    const key = keyOf(types[nodes[i + typeAt]], strings[nodes[i + nameAt]]);
    const group = out.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += nodes[i + sizeAt];
    out.set(key, group);
  }
  return out;
}

/**
 * For nodes of `wanted` (`type\tname`, as printed) that are not in `before`: who holds them, as
 * `edge <- holder type/name`, counted, so a row of the table can be traced to the code that keeps it.
 */
function holders(beforePath: string, afterPath: string, wanted: string): Map<string, number> {
  const idsOf = (data: Snapshot) => {
    const fields = data.snapshot.meta.node_fields;
    const ids = new Set<number>();
    for (let i = fields.indexOf('id'); i < data.nodes.length; i += fields.length) ids.add(data.nodes[i]);
    return ids;
  };
  const old = idsOf(JSON.parse(readFileSync(beforePath, 'utf8')) as Snapshot);
  const data = JSON.parse(readFileSync(afterPath, 'utf8')) as Snapshot;
  const { node_fields: nf, node_types, edge_fields: ef, edge_types } = data.snapshot.meta;
  const [types, edgeTypes] = [node_types[0], edge_types[0]];
  const width = nf.length;
  const [typeAt, nameAt, idAt, countAt] = ['type', 'name', 'id', 'edge_count'].map((f) => nf.indexOf(f));
  const [eTypeAt, eNameAt, eToAt] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f));
  const { nodes, edges, strings } = data;
  const label = (i: number) => keyOf(types[nodes[i + typeAt]], strings[nodes[i + nameAt]]);
  const out = new Map<string, number>();
  let edge = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const count = nodes[i + countAt];
    for (let e = 0; e < count; e++, edge += ef.length) {
      const to = edges[edge + eToAt];
      if (label(to) !== wanted || old.has(nodes[to + idAt])) continue;
      const kind = edgeTypes[edges[edge + eTypeAt]];
      if (kind === 'weak') continue;
      const name = kind === 'element' || kind === 'hidden' ? '[]' : strings[edges[edge + eNameAt]];
      const key = `.${name} <- ${label(i).replace('\t', ' ')}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  }
  return out;
}

// ---- orchestration --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'tidings-ws' },
      subs: { type: 'string', default: '2000' },
      warm: { type: 'string', default: '100' },
      top: { type: 'string', default: '40' },
      // "object\tObject": who holds the new nodes of that row (type, a tab, name).
      why: { type: 'string', multiple: true, default: [] },
    },
  });
  const target = findTarget(values.target);
  const subs = Number(values.subs);
  const warm = Number(values.warm);
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--conditions=@tidings/source', '--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies: ((message: FromChild) => void)[] = [];
  child.on('message', (message: FromChild) => replies.shift()?.(message));
  const ask = (message: ToChild) =>
    new Promise<FromChild>((resolve) => {
      replies.push(resolve);
      child.send(message);
    });
  const connect = await target.client();
  const { port } = await ask({ type: 'start', target: target.name });
  const clients: BenchClient[] = [];
  const open = async (count: number) => {
    for (let from = 0; from < count; from += 100) {
      const batch: Promise<BenchClient>[] = [];
      for (let i = from; i < Math.min(count, from + 100); i++) {
        batch.push(
          connect({ port: port as number, channel: 'bench', onMessage: () => {}, onClose: () => {} }),
        );
      }
      clients.push(...(await Promise.all(batch)));
    }
    // HTTP transports answer 200 before the subscription has started: let them settle.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  };
  const dir = tmpdir();
  const before = join(dir, `conn-memory-${process.pid}-before.heapsnapshot`);
  const after = join(dir, `conn-memory-${process.pid}-after.heapsnapshot`);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  await open(warm);
  await ask({ type: 'publish' });
  await settle();
  const a = await ask({ type: 'snapshot', path: before });
  await open(subs);
  await ask({ type: 'publish' });
  await settle();
  const b = await ask({ type: 'snapshot', path: after });
  for (const client of clients) client.close();
  child.send({ type: 'close' } satisfies ToChild);

  const ga = groups(before);
  const gb = groups(after);
  for (const wanted of values.why) {
    const found = [...holders(before, after, wanted.replace('/', '\t'))].sort((x, y) => y[1] - x[1]);
    console.log(`held: ${wanted}`);
    for (const [key, n] of found.slice(0, 12)) console.log(`  ${(n / subs).toFixed(2)}/conn  ${key}`);
  }
  rmSync(before);
  rmSync(after);
  const rows: { key: string; count: number; bytes: number }[] = [];
  for (const [key, group] of gb) {
    const old = ga.get(key) ?? { count: 0, bytes: 0 };
    const count = (group.count - old.count) / subs;
    const bytes = (group.bytes - old.bytes) / subs;
    if (Math.abs(bytes) >= 1 || Math.abs(count) >= 0.05) rows.push({ key, count, bytes });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  const kb = (n: number) => (n / 1024).toFixed(2);
  console.log(
    `${target.name}: ${subs} connections (after ${warm} warm-up). Per connection: snapshot ${total.toFixed(0)} B, ` +
      `heapUsed ${kb(((b.heapUsed as number) - (a.heapUsed as number)) / subs)} KB, ` +
      `rss ${kb(((b.rss as number) - (a.rss as number)) / subs)} KB`,
  );
  console.log('bytes/conn\tobjs/conn\ttype\tname');
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(`${r.bytes.toFixed(1)}\t${r.count.toFixed(2)}\t${r.key}`);
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
