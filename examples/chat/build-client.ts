import { build } from 'esbuild';

/**
 * Bundles the browser client as a plain <script> that defines the global `Tidings`, from the sources
 * (so the demo runs without `npm run build`; an app of your own serves @tidings/client's
 * dist/tidings.min.js instead).
 */
export async function buildBrowserClient(): Promise<string> {
  const result = await build({
    entryPoints: [new URL('../../packages/client/src/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    globalName: 'Tidings',
    minify: true,
    target: 'es2022',
    conditions: ['@tidings/source'],
    write: false,
  });
  return result.outputFiles[0].text;
}
