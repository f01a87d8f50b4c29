/**
 * A small EventSource for Node 20, which has none: what the SSE transport uses of it (onopen,
 * onmessage, onerror, close), over fetch. Like a browser's, it fails without saying why on a non-200
 * answer or another content type, and reports the end of the stream as an error.
 */
export class NodeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;

  readyState = NodeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  readonly url: string;
  readonly #controller = new AbortController();

  constructor(url: string) {
    this.url = url;
    void this.#run();
  }

  close(): void {
    this.readyState = NodeEventSource.CLOSED;
    this.#controller.abort();
  }

  async #run(): Promise<void> {
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'text/event-stream' },
        signal: this.#controller.signal,
      });
      if (!response.ok || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
        await response.body?.cancel();
        return this.#fail();
      }
      if (this.readyState === NodeEventSource.CLOSED) return;
      this.readyState = NodeEventSource.OPEN;
      this.onopen?.();
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      let data: string[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const lines = (buffered + value).split(/\r\n|\r|\n/);
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line === '') {
            if (data.length > 0 && this.readyState === NodeEventSource.OPEN) {
              this.onmessage?.({ data: data.join('\n') });
            }
            data = [];
          } else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
      this.#fail();
    } catch {
      this.#fail();
    }
  }

  #fail(): void {
    if (this.readyState === NodeEventSource.CLOSED) return;
    this.readyState = NodeEventSource.CLOSED;
    this.onerror?.();
  }
}
