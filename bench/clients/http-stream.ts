import { Agent, request } from 'node:http';

/**
 * One keep-alive agent for every long-lived GET of a load process: without `maxSockets: Infinity`
 * requests beyond the agent's limit would queue instead of connecting.
 */
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

export interface HttpStreamOptions {
  port: number;
  path: string;
  headers?: Record<string, string>;
  /** Called with each decoded text chunk of the response body. */
  onText: (text: string) => void;
  onClose: (reason: string) => void;
}

/** Opens a streaming GET; resolves once a 200 response has started, with a function that aborts it. */
export function openHttpStream(options: HttpStreamOptions): Promise<() => void> {
  return new Promise((resolve, reject) => {
    let open = false;
    const req = request(
      { host: '127.0.0.1', port: options.port, path: options.path, agent, headers: options.headers },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${options.path}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        open = true;
        res.setEncoding('utf8');
        res.on('data', options.onText);
        res.on('close', () => options.onClose('response closed'));
        resolve(() => req.destroy());
      },
    );
    req.on('error', (error) => (open ? options.onClose(error.message) : reject(error)));
    req.end();
  });
}
