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

/**
 * Internal property names, shortened in the bundles (as private fields already are): none is public
 * API, a wire field, or a property of a platform object (WebSocket, EventSource, Response). Keys of
 * FrameType and Defaults may be (the client exports neither); never those of ErrorCode or TransportName.
 */
const INTERNAL_PROPS =
  /^(opened|sentOn|deliver|complete|params|needs|platform|heard|receive|interrupt|spec|hold|stop|limits|channels|tries|resolve|reject|frame|fail|open|old|next|url|end|schedule|ask|refresh|save|forget|heartbeatMs|longPollWaitMs|maxChannelLength|maxSubscriptionsPerConnection|maxHistoryBatch)$/;

/** Bundles the client, @tidings/protocol included (only what it uses), minified. */
export async function bundle(format, options = {}) {
  return build({
    ...(format === 'iife' ? await globalEntry() : { entryPoints: [entry] }),
    bundle: true,
    minify: true,
    mangleProps: INTERNAL_PROPS,
    format,
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

/**
 * The plain <script>'s entry: it assigns the global `Tidings` itself, with the names the ESM bundle
 * exports. Through `globalName`, esbuild would add its CommonJS interop helpers, which a page never uses.
 */
async function globalEntry() {
  const { metafile } = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    conditions: ['@tidings/source'],
    write: false,
    metafile: true,
    logLevel: 'warning',
  });
  const names = Object.values(metafile.outputs)[0].exports.join();
  const contents = `import { ${names} } from ${JSON.stringify(entry)}; globalThis.Tidings = { ${names} };`;
  return { stdin: { contents, resolveDir: dist, loader: 'js' } };
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
