// Builds every published package into its dist/ (`npm run build`): ESM + CommonJS, .d.ts/.d.cts and
// source maps with tsdown (rolldown + rolldown-plugin-dts), then the browser bundles of @tidings/client.
// Inside the monorepo the packages still run from src/ through the `@tidings/source` export condition;
// dist/ is what a user installs (scripts/pack-check.mjs proves it).
import { spawnSync } from 'node:child_process';
import { build } from 'tsdown';

const root = new URL('..', import.meta.url).pathname;

/**
 * Entry points per package (name in dist/ → source file); the order follows the dependencies. A list
 * builds each group on its own, sharing no chunk: @tidings/engine/testing imports fast-check and
 * node:test, and rolldown's CommonJS output would otherwise make dist/index.cjs require dist/testing.cjs
 * (where it puts its runtime helpers), so every engine would load the suites.
 */
const packages = {
  protocol: { index: 'src/index.ts' },
  engine: [{ index: 'src/index.ts' }, { testing: 'src/testing/index.ts' }],
  server: {
    index: 'src/index.ts',
    express: 'src/integrations/express.ts',
    fastify: 'src/integrations/fastify.ts',
    koa: 'src/integrations/koa.ts',
    hono: 'src/integrations/hono.ts',
  },
  client: { index: 'src/index.ts' },
  react: { index: 'src/index.ts' },
  redis: { index: 'src/index.ts' },
  nats: { index: 'src/index.ts' },
  sqlite: { index: 'src/index.ts' },
  standalone: { index: 'src/index.ts', cli: 'src/cli.ts', admin: 'src/admin.ts' },
};

/** The packages that run in browsers too. */
const neutral = new Set(['client', 'react']);

const only = process.argv.slice(2);
const started = performance.now();
for (const [name, groups] of Object.entries(packages)) {
  if (only.length > 0 && !only.includes(name)) continue;
  const cwd = `${root}packages/${name}`;
  for (const [i, entry] of [groups].flat().entries()) {
    await build({
      cwd,
      entry,
      format: ['esm', 'cjs'],
      outDir: 'dist',
      // The first group empties dist/; the next ones add to it.
      clean: i === 0,
      dts: { tsconfig: `${root}tsconfig.build.json` },
      tsconfig: `${root}tsconfig.build.json`,
      sourcemap: true,
      // The maps point into src/, which is published: no second copy of every source inside them.
      outputOptions: { sourcemapExcludeSources: true },
      // The client and the React bindings run in browsers and Node alike; everything else is for Node.
      platform: neutral.has(name) ? 'neutral' : 'node',
      target: neutral.has(name) ? 'es2022' : 'node20',
      // Dependencies and peers stay imports (tsdown's default). A third-party import that its package.json
      // does not declare would be copied into dist/: fail the build instead.
      deps: { onlyBundle: [] },
      shims: true,
      fixedExtension: false,
      logLevel: 'warn',
      // Declarations take most of the time (tsc); rolldown's timing hints add nothing here.
      checks: { pluginTimings: false },
      config: false,
    });
  }
  if (name === 'client') {
    // The browser bundles (dist/tidings.min.js for a <script> tag, dist/tidings.esm.min.js).
    const result = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd, stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
  if (name === 'standalone') {
    // The dashboard's script and style sheet (dist/admin/), served at /admin.
    const result = spawnSync(process.execPath, ['scripts/build-admin.mjs'], { cwd, stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}
console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
