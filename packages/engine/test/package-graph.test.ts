import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The package graph: what a published package needs at run time (dependencies and peers, not dev
 * dependencies) never loops, the engine seam depends on the protocol alone, engines never on the
 * server, and nothing published on the private test helpers.
 */
const root = new URL('../../', import.meta.url);
const manifests = readdirSync(root)
  .map((dir) => JSON.parse(readFileSync(new URL(`${dir}/package.json`, root), 'utf8')))
  .filter((pkg) => typeof pkg.name === 'string' && pkg.name.startsWith('@tidings/'));
const needs = new Map<string, string[]>(
  manifests.map((pkg) => [
    pkg.name,
    Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies }).filter((n) => n.startsWith('@tidings/')),
  ]),
);
const published = manifests.filter((pkg) => pkg.private !== true).map((pkg) => pkg.name as string);

test('no cycle between the packages at run time', () => {
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    assert.ok(!path.includes(name), `cycle: ${[...path, name].join(' → ')}`);
    if (done.has(name)) return;
    for (const next of needs.get(name) ?? []) visit(next, [...path, name]);
    done.add(name);
  };
  for (const name of needs.keys()) visit(name, []);
});

test('the engine seam depends on the protocol alone', () => {
  assert.deepEqual(needs.get('@tidings/engine'), ['@tidings/protocol']);
});

test('engines depend on the seam, not on the server', () => {
  for (const name of ['@tidings/redis', '@tidings/nats', '@tidings/sqlite']) {
    if (!needs.has(name)) continue;
    assert.ok(needs.get(name)?.includes('@tidings/engine'), `${name} needs @tidings/engine`);
    assert.ok(!needs.get(name)?.includes('@tidings/server'), `${name} must not need @tidings/server`);
  }
  assert.ok(needs.get('@tidings/server')?.includes('@tidings/engine'));
});

test("engines' sources import the seam, never the server (a dev dependency resolves in the repo only)", () => {
  for (const dir of ['redis', 'nats', 'sqlite']) {
    const src = new URL(`${dir}/src/`, root);
    const files = (function walk(at: URL): URL[] {
      return readdirSync(at).flatMap((name) =>
        statSync(new URL(name, at)).isDirectory() ? walk(new URL(`${name}/`, at)) : [new URL(name, at)],
      );
    })(src);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      assert.ok(
        !/from '@tidings\/server|import\('@tidings\/server/.test(text),
        `${file.pathname} imports the server`,
      );
    }
  }
});

test('no published package needs the private test helpers', () => {
  assert.ok(published.length >= 8, `published: ${published.join(', ')}`);
  for (const name of published) assert.ok(!needs.get(name)?.includes('@tidings/testing'), name);
});
