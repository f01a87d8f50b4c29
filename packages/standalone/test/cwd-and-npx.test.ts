import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN } from './support.js';

// How a user runs the command: from a directory holding tidings.json, through `npx`.

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-cwd-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A directory where `npx tidings` finds this repository's bin, as after `npm install @tidings/standalone`. */
async function appDir(): Promise<string> {
  const dir = await tempDir();
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(BIN, join(dir, 'node_modules', '.bin', 'tidings'));
  await writeFile(join(dir, 'package.json'), '{ "name": "app", "private": true }\n');
  return dir;
}

function env(): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TIDINGS_') && !name.startsWith('npm_')) clean[name] = value;
  }
  return clean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('tidings from the directory of its tidings.json', () => {
  test('./tidings.json is read without --config', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'tidings.json'),
      JSON.stringify({ port: 0, host: '127.0.0.1', apiPath: '/backend' }),
    );
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'check'], { cwd: dir, env: env() });
      let stdout = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.on('exit', (code) => resolve({ code, stdout }));
    });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^tidings\.json: OK \(listen 127\.0\.0\.1:0, .*api off \(no apiKey\)/);
  });

  test('SIGTERM to `npx tidings serve` drains and stops the server (npm does not pass it on)', async () => {
    const dir = await appDir();
    await writeFile(join(dir, 'tidings.json'), JSON.stringify({ port: 0, host: '127.0.0.1' }));
    const npx = spawn('npx', ['--no-install', 'tidings', 'serve'], { cwd: dir, env: env() });
    after(() => {
      if (npx.exitCode === null) npx.kill('SIGKILL');
    });
    let stdout = '';
    const listening = await new Promise<{ pid: number; url: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" within 20 s: ${stdout}`)), 20_000);
      npx.stdout.on('data', (chunk) => {
        stdout += chunk;
        const line = stdout.split('\n').find((text) => text.includes('"msg":"listening"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { pid: number; url: string });
        }
      });
    });
    // The server is a grandchild of npx (npx → sh -c → node): a different process.
    assert.notEqual(listening.pid, npx.pid);
    after(() => {
      if (alive(listening.pid)) process.kill(listening.pid, 'SIGKILL');
    });
    assert.equal((await fetch(`${listening.url}/healthz`)).status, 200);

    npx.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (alive(listening.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(listening.pid), false, 'the server outlived npx');
    assert.match(stdout, /"msg":"stopped"/);
  });
});
