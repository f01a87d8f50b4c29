import { ErrorCode, TidingsError } from '@tidings/protocol';

/** Engines throw TidingsErrors; anything else from below is reported as the engine being unavailable. */
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
