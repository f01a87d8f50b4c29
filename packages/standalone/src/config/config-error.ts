import { ErrorCode, TidingsError } from '@tidings/protocol';
import type { z } from 'zod';

/** A configuration that cannot be used: one line per problem, each naming the field. The CLI exits 2. */
export class ConfigError extends TidingsError {
  readonly lines: readonly string[];

  constructor(lines: string[]) {
    super(ErrorCode.invalidField, lines.join('\n'));
    this.lines = lines;
  }
}

/** `config.engine.url`, `config.history["chat.*"].size`, `config.jwt.issuer[1]` (or under another root). */
export function fieldPath(path: readonly PropertyKey[], root = 'config'): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/**
 * One line per zod issue, `config.engine.url: expected a redis:// URL`, with where an overridden value
 * came from (`(from TIDINGS_ENGINE_URL)`): a value the file never had is otherwise hard to find.
 */
export function issueLines(
  issues: readonly z.core.$ZodIssue[],
  sources: ReadonlyMap<string, string>,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(line([...issue.path, key], 'unknown field', sources));
      continue;
    }
    lines.push(line(issue.path, describe(issue), sources));
  }
  return lines;
}

function line(path: readonly PropertyKey[], message: string, sources: ReadonlyMap<string, string>): string {
  const source = sourceOf(path, sources);
  return `${fieldPath(path)}: ${message}${source === undefined ? '' : ` (from ${source})`}`;
}

function sourceOf(path: readonly PropertyKey[], sources: ReadonlyMap<string, string>): string | undefined {
  // The longest overridden prefix of the path: `engine.url` before `engine`.
  for (let n = path.length; n > 0; n--) {
    const source = sources.get(path.slice(0, n).map(String).join('.'));
    if (source !== undefined) return source;
  }
  return undefined;
}

/** Our own messages as they are; zod's generic ones reworded to the same style. */
function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key') {
    const inner = issue.issues[0];
    return inner === undefined ? 'invalid key' : `invalid key: ${describe(inner as z.core.$ZodIssue)}`;
  }
  if (!issue.message.startsWith('Invalid input') && !/^(Too|Invalid) /.test(issue.message)) {
    return issue.message;
  }
  if (issue.code === 'invalid_type') {
    const objectLike = issue.expected === 'object' || issue.expected === 'record';
    return objectLike ? 'expected an object { … }' : `expected ${issue.expected}`;
  }
  return issue.message.replace(/^Invalid input: /, '');
}
