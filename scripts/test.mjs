// Runs every *.test.ts in the workspaces with Node's own test runner (under tsx), on the packages'
// TypeScript sources: the `@tidings/source` export condition maps each @tidings/* import to its src/.
// Node 20's runner does not expand globs, so the file list is gathered here.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const roots = ['packages', 'examples', 'bench'];
const only = process.argv.slice(2);

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

let files = roots.flatMap((r) => collect(join(root, r), []));
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
files.sort();

const args = [
  '--conditions=@tidings/source',
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-timeout=120000',
  ...files,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
