/**
 * The Standard Schema interface, v1 (https://standardschema.dev), copied as its authors invite rather
 * than depended on: it is a handful of types, stable by design, and copying keeps `@tidings/server`
 * free of a package users would otherwise install only for types. zod (3.24+), valibot (1.0+),
 * arktype (2.0+) and others implement it, so any of their schemas is a `StandardSchemaV1` as is.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>;
}

export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1;
  readonly vendor: string;
  /** Validates a value: the (possibly transformed) value, or the issues. May be async. */
  readonly validate: (value: unknown) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
  /** Types only, never present at run time. */
  readonly types?: { readonly input: Input; readonly output: Output } | undefined;
}

export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaIssue> };

export interface StandardSchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}
