import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * The browser client as one plain script that defines the global `Tidings`, so a page of an app
 * written in any language can use it with a `<script>` tag. @tidings/client ships it prebuilt
 * (`dist/tidings.min.js`); it is read on the first request and kept in memory.
 */
export class ClientScript {
  #text: Promise<string> | undefined;

  text(): Promise<string> {
    this.#text ??= read();
    // A failed read is retried by the next request rather than remembered.
    this.#text.catch(() => {
      this.#text = undefined;
    });
    return this.#text;
  }
}

function read(): Promise<string> {
  // Resolved through @tidings/client's `exports`, so the installed package's file is served.
  const file = createRequire(import.meta.url).resolve('@tidings/client/tidings.min.js');
  return readFile(file, 'utf8');
}
