// Builds the dashboard's front end into dist/admin/ (run by `npm run build` after tsdown has written
// the library build; the admin tests run it too): admin.js, the page's script bundled and minified
// with esbuild, and admin.css. The server only reads these files: no build tool runs at run time.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const src = new URL('../src/admin/ui/', import.meta.url).pathname;
const out = new URL('../dist/admin/', import.meta.url).pathname;

export async function buildAdmin() {
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: [`${src}main.ts`],
    outfile: `${out}admin.js`,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    logLevel: 'warning',
  });
  await copyFile(`${src}admin.css`, `${out}admin.css`);
}

if (import.meta.url === `file://${process.argv[1]}`) await buildAdmin();
