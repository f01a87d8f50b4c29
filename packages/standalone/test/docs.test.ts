// docs/STANDALONE.md, run as a reader would: every transcript, file and Python block in order, in an
// empty directory, against the real `npx tidings serve`, comparing what each command prints with what
// the guide shows. Ids, times, pids and epochs are masked (an epoch must still be the same one wherever
// the guide shows the same one); the guide's ports (8080 for Tidings, 8000 for the hook backend) are
// mapped to free ones. How blocks are read: doc-blocks.ts.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { docBlocks, pythonOutput, transcriptSteps } from './doc-blocks.js';
import { BIN } from './support.js';

const GUIDE = fileURLToPath(new URL('../../../docs/STANDALONE.md', import.meta.url));
const DOC_PORTS = ['8080', '8000'] as const;
// Generous: a step only waits this long when it is stuck, and a loaded CI machine can be slow.
const WAIT_MS = 60_000;

function freePort(): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(String(port)));
    });
    server.on('error', reject);
  });
}

/** Replaces what differs from run to run; the n-th distinct epoch seen becomes `<epoch n>`. */
class Masker {
  readonly epochs = new Map<string, number>();

  mask(text: string): string {
    for (const match of text.matchAll(/["']epoch["']: ?["']([A-Za-z0-9_-]+)["']/g)) {
      if (!this.epochs.has(match[1]!)) this.epochs.set(match[1]!, this.epochs.size + 1);
    }
    let masked = text
      .replace(/\r\n/g, '\n')
      .replace(/\b\d{13}\b/g, '<ms>')
      .replace(/"pid":\d+/g, '"pid":<pid>')
      .replace(/^Date: .*$/gm, 'Date: <date>')
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>');
    for (const [epoch, n] of this.epochs) masked = masked.replaceAll(epoch, `<epoch ${n}>`);
    return masked;
  }

  /** The epoch numbered `n`. */
  epoch(n: number): string | undefined {
    for (const [epoch, m] of this.epochs) if (m === n) return epoch;
    return undefined;
  }
}

interface Background {
  command: string;
  child: ChildProcess;
  output: string;
  /** Lines of `output` already compared with the guide. */
  seen: number;
  /** The server's pid, from its "listening" line (npx runs it as a grandchild). */
  serverPid?: number;
}

const lines = (text: string) => text.replace(/\s+$/, '').split('\n');

test('docs/STANDALONE.md runs as written', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-docs-'));
  after(() => rm(dir, { recursive: true, force: true }));
  // The reader's directory after `npm install @tidings/standalone`.
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(BIN, join(dir, 'node_modules', '.bin', 'tidings'));
  await writeFile(join(dir, 'package.json'), '{ "name": "my-backend", "private": true }\n');
  // curl in a terminal prints no progress meter; in a pipe it would.
  await writeFile(join(dir, '.curlrc'), 'silent\nshow-error\n');

  const ports = [await freePort(), await freePort()];
  const toRun = (text: string) =>
    DOC_PORTS.reduce((out, port, i) => out.replace(new RegExp(`\\b${port}\\b`, 'g'), ports[i]!), text);
  // The reader's directory is /srv/app in the guide (the SQLite engine names its file in the logs).
  const fromRun = (text: string) =>
    ports
      .reduce((out, port, i) => out.replace(new RegExp(`\\b${port}\\b`, 'g'), DOC_PORTS[i]!), text)
      .replaceAll(dir, '/srv/app');

  const env: NodeJS.ProcessEnv = { CURL_HOME: dir };
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TIDINGS_') && !name.startsWith('npm_')) env[name] ??= value;
  }
  const shown = new Masker();
  const real = new Masker();
  const backgrounds: Background[] = [];
  const mismatches: string[] = [];
  after(() => Promise.all(backgrounds.map(stop)));

  /** The guide's command as it runs here: free ports, and the epochs this run has for the guide's. */
  const command = (text: string) => {
    let out = toRun(text);
    for (const [epoch, n] of shown.epochs) out = out.replaceAll(epoch, real.epoch(n) ?? epoch);
    return out;
  };

  const compare = (actual: string, expected: string, where: string) => {
    // The shown side first: its epochs are numbered in the order the guide shows them.
    const want = shown.mask(expected).replace(/\s+$/, '');
    const got = real.mask(fromRun(actual)).replace(/\s+$/, '');
    // Noted and carried on, so that one run lists every place where the guide and the server differ.
    if (got !== want) mismatches.push(`${where}\n--- the guide shows:\n${want}\n--- it printed:\n${got}`);
  };

  const run = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        'bash',
        [
          '-c',
          `{ ${text}
} 2>&1`,
        ],
        { cwd: dir, env },
      );
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`"${text}" did not finish within ${WAIT_MS} ms:\n${output}`));
      }, WAIT_MS);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(output);
      });
    });

  /** Waits until the background command has printed `expected`'s number of lines, then compares them. */
  const expectMore = async (background: Background, expected: string, where: string) => {
    const want = expected.trim() === '' ? 0 : lines(expected).length;
    const deadline = Date.now() + WAIT_MS;
    const fresh = () => background.output.split('\n').slice(background.seen);
    // Complete lines only: the last element is what follows the last newline.
    while (fresh().length - 1 < want && Date.now() < deadline) await sleep(50);
    compare(fresh().slice(0, want).join('\n'), expected, where);
    background.seen += want;
  };

  const startBackground = async (text: string, expected: string, where: string) => {
    if (/tidings serve/.test(text)) {
      // Starting the server again: the reader stopped the running one first (Ctrl-C).
      for (const old of backgrounds.filter((b) => b.serverPid !== undefined)) await stop(old);
    }
    const child = spawn('bash', ['-c', `exec ${command(text.replace(/\s*&$/, ''))} 2>&1`], { cwd: dir, env });
    const background: Background = { command: text, child, output: '', seen: 0 };
    child.stdout!.on('data', (chunk) => {
      background.output += chunk;
      const listening = /\{[^\n]*"msg":"listening"[^\n]*\}/.exec(background.output);
      if (listening && background.serverPid === undefined)
        background.serverPid = JSON.parse(listening[0]).pid;
    });
    backgrounds.push(background);
    await expectMore(background, expected, where);
  };

  const blocks = docBlocks(await readFile(GUIDE, 'utf8'));
  let ran = 0;
  for (const block of blocks) {
    const where = `docs/STANDALONE.md:${block.line}`;
    const started = Date.now();
    const note = block.note ?? '';
    if (note.startsWith('skip')) continue;
    if (note.startsWith('file ')) {
      await writeFile(join(dir, note.slice(5)), toRun(block.body));
    } else if (note.startsWith('merge ')) {
      const file = join(dir, note.slice(6));
      const merged = { ...JSON.parse(await readFile(file, 'utf8')), ...JSON.parse(toRun(block.body)) };
      await writeFile(file, JSON.stringify(merged, null, 2));
    } else if (note === 'more') {
      const last = backgrounds.filter((b) => b.serverPid === undefined).at(-1);
      assert.ok(last, `${where}: "more" without a background command before it`);
      await expectMore(last, block.body, where);
    } else if (block.lang === 'console') {
      for (const step of transcriptSteps(block.body)) {
        const at = `${where}: $ ${step.command}`;
        const assignment = /^([A-Z][A-Z0-9_]*)=(.+)$/.exec(step.command);
        if (assignment) {
          env[assignment[1]!] = await run(`${command(step.command)}; printf %s "$${assignment[1]}"`);
          compare('', step.output, at);
        } else if (/tidings serve|curl -N|&$/.test(step.command)) {
          await startBackground(step.command, step.output, at);
        } else {
          compare(await run(command(step.command)), step.output, at);
        }
      }
    } else if (block.lang === 'python') {
      compare(
        await run(`python3 - <<'PYTHON'\n${command(block.body)}\nPYTHON`),
        pythonOutput(block.body),
        where,
      );
    } else if (['console', 'sh', 'bash', 'python', 'ts', 'typescript', 'js'].includes(block.lang)) {
      assert.fail(`${where}: a ${block.lang} block the test cannot run: mark it <!-- doc-test: skip why -->`);
    } else {
      continue;
    }
    ran++;
    if (process.env.DOCS_TEST_TIMES) console.log(`${where}: ${Date.now() - started} ms`);
  }
  assert.deepEqual(mismatches, [], mismatches.join('\n\n'));
  assert.ok(ran >= 20, `only ${ran} blocks ran`);
});

async function stop(background: Background): Promise<void> {
  const { child, serverPid } = background;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  // SIGTERM to npx reaches the server (it watches its parent): wait until it is gone, or kill it.
  const deadline = Date.now() + 10_000;
  while (serverPid !== undefined && alive(serverPid) && Date.now() < deadline) await sleep(50);
  if (serverPid !== undefined && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
