import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/** The dashboard's script and style sheet, built ahead (`npm run build`) into dist/admin/. */
const FILES = {
  'admin.js': 'text/javascript; charset=utf-8',
  'admin.css': 'text/css; charset=utf-8',
} as const;

export type AssetName = keyof typeof FILES;

export function isAsset(name: string): name is AssetName {
  return Object.hasOwn(FILES, name);
}

/** Read on first request and kept in memory; a failed read is retried by the next request. */
export class AdminAssets {
  readonly #cache = new Map<AssetName, Promise<Buffer>>();

  contentType(name: AssetName): string {
    return FILES[name];
  }

  read(name: AssetName): Promise<Buffer> {
    let text = this.#cache.get(name);
    if (text === undefined) {
      // Resolved through the package's own `exports`, so the installed package's file is served.
      const file = createRequire(import.meta.url).resolve(`@tidings/standalone/admin/${name}`);
      text = readFile(file);
      text.catch(() => this.#cache.delete(name));
      this.#cache.set(name, text);
    }
    return text;
  }
}
