import {
  assertChannelOrPattern,
  ErrorCode,
  isPattern,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';
import type { StandardSchemaIssue, StandardSchemaResult, StandardSchemaV1 } from './standard-schema.js';

/** A Standard Schema per channel or pattern: `{ chat: ChatLine, 'orders.*': Order }` (zod, valibot, arktype, …). */
export type Schemas<Map = Record<string, unknown>> = {
  [Key in keyof Map]?: StandardSchemaV1<unknown, Map[Key]>;
};

/** The data as the schemas left it (a schema may transform: defaults, coercions, stripped keys). */
export interface Checked {
  readonly value: unknown;
}

/** Issues listed in an INVALID_DATA error at most: enough to fix the data, bounded for the wire. */
const MAX_ISSUES = 10;

/**
 * The hub's schemas. Data for a channel must pass every schema whose key matches it, as its type is
 * what every matching key of a typed map says: the channel's own name first, then the patterns in the
 * order given, each fed what the one before returned. What the last returns is what is stored.
 */
export class SchemaRules {
  readonly #rules: { pattern: boolean; match: (channel: string) => boolean; schema: StandardSchemaV1 }[] = [];
  readonly #cache = new Map<string, StandardSchemaV1[]>();
  /** Per channel, the last async check still running: later checks wait for it, so publish order holds. */
  readonly #pending = new Map<string, Promise<unknown>>();

  constructor(schemas: Record<string, StandardSchemaV1 | undefined> = {}) {
    for (const [key, schema] of Object.entries(schemas)) {
      if (schema === undefined) continue;
      assertChannelOrPattern(key);
      if (typeof schema?.['~standard']?.validate !== 'function') {
        throw new TidingsError(
          ErrorCode.invalidField,
          `schemas[${JSON.stringify(key)}] is not a Standard Schema (zod 3.24+, valibot 1+, arktype 2+, …)`,
        );
      }
      this.#rules.push({ pattern: isPattern(key), match: patternMatcher(key), schema });
    }
    // A channel's own name first, then the patterns in the order given (the sort is stable).
    this.#rules.sort((a, b) => Number(a.pattern) - Number(b.pattern));
  }

  /**
   * Checks data published to (or set as the state of) a channel. Undefined when no schema applies;
   * a promise only when a schema is async or an async check of the channel is still running.
   * Rejects (or throws) INVALID_DATA with the schema's issues in `details.issues`.
   */
  check(channel: string, data: unknown): Checked | Promise<Checked> | undefined {
    const schemas = this.#for(channel);
    if (schemas.length === 0) return undefined;
    const before = this.#pending.get(channel);
    const run = (): Checked | Promise<Checked> => validateAll(channel, schemas, 0, data);
    const checked = before === undefined ? run() : before.then(run, run);
    if (!(checked instanceof Promise)) return checked;
    const settled = checked.catch(() => {});
    this.#pending.set(channel, settled);
    void settled.then(() => {
      if (this.#pending.get(channel) === settled) this.#pending.delete(channel);
    });
    return checked;
  }

  #for(channel: string): StandardSchemaV1[] {
    let schemas = this.#cache.get(channel);
    if (schemas === undefined) {
      schemas = this.#rules.filter((rule) => rule.match(channel)).map((rule) => rule.schema);
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(channel, schemas);
    }
    return schemas;
  }
}

function validateAll(
  channel: string,
  schemas: readonly StandardSchemaV1[],
  from: number,
  data: unknown,
): Checked | Promise<Checked> {
  let value = data;
  for (let i = from; i < schemas.length; i++) {
    let result: StandardSchemaResult<unknown> | Promise<StandardSchemaResult<unknown>>;
    try {
      result = schemas[i]['~standard'].validate(value);
    } catch (error) {
      throw schemaFailed(channel, error);
    }
    if (isThenable(result)) {
      // Any thenable a library returns becomes a real promise: the hub tells sync from async by that.
      return Promise.resolve(result).then(
        (done) => validateAll(channel, schemas, i + 1, outcome(channel, done)),
        (error) => {
          throw schemaFailed(channel, error);
        },
      );
    }
    value = outcome(channel, result);
  }
  return { value };
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T>)?.then === 'function';
}

function outcome(channel: string, result: StandardSchemaResult<unknown>): unknown {
  if (result.issues === undefined) return result.value;
  const issues = result.issues.slice(0, MAX_ISSUES).map(toIssue);
  const said = issues.map((issue) => (issue.path ? `${issue.path.join('.')}: ` : '') + issue.message);
  throw new TidingsError(
    ErrorCode.invalidData,
    `data for ${channel} does not match its schema: ${said.join('; ')}`,
    { issues },
  );
}

/** An issue as plain JSON: its path as keys (strings and numbers), for the error frame. */
function toIssue(issue: StandardSchemaIssue): { message: string; path?: (string | number)[] } {
  const message = String(issue.message);
  if (!issue.path || issue.path.length === 0) return { message };
  const path = issue.path.map((segment) => {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
  return { message, path };
}

/** A schema that throws (instead of returning issues) is a bug on the server's side, not bad data. */
function schemaFailed(channel: string, error: unknown): TidingsError {
  if (error instanceof TidingsError) return error;
  return new TidingsError(
    ErrorCode.internal,
    `the schema for ${channel} failed: ${(error as Error)?.message ?? String(error)}`,
    undefined,
    { cause: error },
  );
}
