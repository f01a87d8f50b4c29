import { fileURLToPath } from 'node:url';

/**
 * The browser client as one plain script that defines the global `Tidings`, so a page of an app
 * written in any language can use it with a `<script>` tag. Bundled from @tidings/client's sources on
 * the first request and kept in memory.
 */
export class ClientScript {
  #bundle: Promise<string> | undefined;

  text(): Promise<string> {
    this.#bundle ??= bundle();
    // A failed build is retried by the next request rather than remembered.
    this.#bundle.catch(() => {
      this.#bundle = undefined;
    });
    return this.#bundle;
  }
}

async function bundle(): Promise<string> {
  // Loaded on first use: a server that never serves the script never loads the bundler.
  const { build } = await import('esbuild');
  const entry = fileURLToPath(import.meta.resolve('@tidings/client'));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: 'Tidings',
    platform: 'browser',
    target: 'es2022',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}
