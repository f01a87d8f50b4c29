// Builds the browser bundles: dist/tidings.esm.js (ES module) and dist/tidings.js (a plain <script>
// that defines the global `Tidings`). `node packages/client/scripts/build.mjs` prints their sizes.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const entry = new URL('../src/index.ts', import.meta.url).pathname;
const dist = new URL('../dist/', import.meta.url).pathname;

/** Bundles the client, @tidings/protocol included (only what it uses), minified. */
export function bundle(format, options = {}) {
  return build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format,
    globalName: format === 'iife' ? 'Tidings' : undefined,
    platform: 'browser',
    // Browsers with private class fields, WebSocket, EventSource, fetch streams: no downlevelling needed.
    target: 'es2022',
    legalComments: 'none',
    write: false,
    ...options,
  });
}

/** The bundle's text and its minified and gzipped sizes, in bytes. */
export async function measure(format) {
  const { outputFiles } = await bundle(format);
  const text = outputFiles[0].text;
  return { text, bytes: Buffer.byteLength(text), gzipped: gzipSync(text, { level: 9 }).length };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  for (const [format, file] of [
    ['esm', 'tidings.esm.js'],
    ['iife', 'tidings.js'],
  ]) {
    await bundle(format, { outfile: dist + file, write: true });
    const { bytes, gzipped } = await measure(format);
    console.log(`dist/${file}: ${bytes} bytes minified, ${gzipped} bytes gzipped`);
  }
}
