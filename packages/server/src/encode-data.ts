import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * Encodes published data as JSON text, rejecting what JSON would silently change or drop (functions,
 * symbols, undefined values, non-finite numbers, bigints, cycles) and what is over the size limit.
 */
export function encodeData(data: unknown, maxBytes: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data, strictReplacer);
  } catch (error) {
    if (error instanceof TidingsError) throw error;
    throw new TidingsError(
      ErrorCode.notSerializable,
      `data is not JSON-serialisable: ${(error as Error).message}`,
      undefined,
      {
        cause: error,
      },
    );
  }
  if (json === undefined)
    throw new TidingsError(ErrorCode.notSerializable, 'data is not JSON-serialisable (undefined)');
  // Byte length only matters near the limit: a string of n UTF-16 units has at most 3n UTF-8 bytes.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json);
    if (bytes > maxBytes) {
      throw new TidingsError(
        ErrorCode.messageTooLarge,
        `data is ${bytes} bytes of JSON, over the limit of ${maxBytes}`,
        {
          bytes,
          limit: maxBytes,
        },
      );
    }
  }
  return json;
}

function strictReplacer(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'function':
    case 'symbol':
    case 'undefined':
      // Inside arrays JSON writes null, inside objects it drops the key: both lose data silently.
      throw new TidingsError(
        ErrorCode.notSerializable,
        `data is not JSON-serialisable: ${typeof value} at ${JSON.stringify(key)}`,
      );
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TidingsError(
          ErrorCode.notSerializable,
          `data is not JSON-serialisable: ${value} at ${JSON.stringify(key)}`,
        );
      }
      return value;
    default:
      return value;
  }
}
