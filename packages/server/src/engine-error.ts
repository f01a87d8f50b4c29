import { ErrorCode, TidingsError } from '@tidings/protocol';

/** An engine failure as callers see it: a TidingsError as thrown, anything else as ENGINE_UNAVAILABLE. */
export function toEngineError(error: unknown): TidingsError {
  if (error instanceof TidingsError) return error;
  return new TidingsError(
    ErrorCode.engineUnavailable,
    `engine error: ${(error as Error)?.message ?? String(error)}`,
    undefined,
    {
      cause: error,
    },
  );
}
