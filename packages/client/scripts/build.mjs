// Builds the browser bundles into dist/ (run by `npm run build` after tsdown has written the library
// build): dist/tidings.esm.min.js (ES module) and dist/tidings.min.js (a plain <script> that defines
// the global `Tidings`). Both include what they use of @tidings/protocol and are minified.
// `node packages/client/scripts/build.mjs` writes them and prints their sizes.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const entry = new URL('../src/index.ts', import.meta.url).pathname;
const dist = new URL('../dist/', import.meta.url).pathname;

/** The file in dist/ of each format. */
export const FILES = { esm: 'tidings.esm.min.js', iife: 'tidings.min.js' };

/** Bundles the client, @tidings/protocol included (only what it uses), minified. */
export function bundle(format, options = {}) {
  return build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format,
    globalName: format === 'iife' ? 'Tidings' : undefined,
    platform: 'browser',
    // Bundle @tidings/protocol from its sources, as the rest of the monorepo runs it.
    conditions: ['@tidings/source'],
    // Browsers with private class fields, WebSocket, EventSource, fetch streams: no downlevelling needed.
    target: 'es2022',
    legalComments: 'none',
    write: false,
    logLevel: 'warning',
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
  for (const [format, file] of Object.entries(FILES)) {
    await bundle(format, { outfile: dist + file, write: true });
    const { bytes, gzipped } = await measure(format);
    console.log(`@tidings/client dist/${file}: ${bytes} bytes minified, ${gzipped} bytes gzipped`);
  }
}
