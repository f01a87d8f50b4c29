// The browser bundles stay small and dependency-free: ESM and IIFE ≤ 8 KB min+gzip each, and the
// plain-<script> build defines the global `Tidings`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { FILES, measure } from '../scripts/build.mjs';

const BUDGET_BYTES = 8 * 1024;

test('the ESM bundle is at most 8 KB minified and gzipped', async () => {
  const { bytes, gzipped } = await measure('esm');
  console.log(`${FILES.esm}: ${bytes} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET_BYTES})`);
  assert.ok(gzipped <= BUDGET_BYTES, `${gzipped} bytes gzipped is over the ${BUDGET_BYTES} byte budget`);
});

test('the ESM bundle imports nothing: @tidings/protocol is bundled in', async () => {
  const { text } = await measure('esm');
  assert.doesNotMatch(text, /\bimport\s*[{*"'\w]/);
  assert.doesNotMatch(text, /\brequire\(/);
});

test('the IIFE build defines the global Tidings with connect()', async () => {
  const { text, gzipped } = await measure('iife');
  console.log(`${FILES.iife} (IIFE): ${gzipped} bytes gzipped (budget ${BUDGET_BYTES})`);
  assert.ok(gzipped <= BUDGET_BYTES, `${gzipped} bytes gzipped is over the ${BUDGET_BYTES} byte budget`);
  const context: { Tidings?: Record<string, unknown> } = {};
  runInNewContext(text, context);
  assert.equal(typeof context.Tidings?.connect, 'function');
  assert.equal(typeof context.Tidings?.TidingsError, 'function');
  assert.equal(typeof context.Tidings?.exponentialBackoff, 'function');
});
