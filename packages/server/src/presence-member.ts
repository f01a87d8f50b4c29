import { ErrorCode, type PresenceMember, TidingsError } from '@tidings/protocol';

/**
 * Checks a member and makes it plain JSON, as every engine stores and every client receives it. `info`
 * comes from an identity, not from a publisher, so JSON's own leniency (an undefined field is dropped)
 * is kept; what JSON cannot hold at all, or what is over `maxBytes` as JSON, is refused.
 */
export function toPresenceMember(member: PresenceMember, maxBytes: number): PresenceMember {
  const { client, user, info } = (member ?? {}) as Partial<PresenceMember>;
  if (typeof client !== 'string' || client === '' || client.length > 200) {
    throw new TidingsError(ErrorCode.invalidField, 'member.client must be a string of 1-200 characters');
  }
  if (typeof user !== 'string' || user === '') {
    throw new TidingsError(ErrorCode.invalidField, 'member.user must be a non-empty string');
  }
  if (info !== undefined && (typeof info !== 'object' || info === null || Array.isArray(info))) {
    throw new TidingsError(ErrorCode.invalidField, 'member.info must be an object');
  }
  let json: string;
  try {
    json = JSON.stringify(info === undefined ? { client, user } : { client, user, info });
  } catch (error) {
    throw new TidingsError(ErrorCode.notSerializable, 'member.info is not JSON-serialisable', undefined, {
      cause: error,
    });
  }
  if (Buffer.byteLength(json) > maxBytes) {
    throw new TidingsError(ErrorCode.messageTooLarge, `the member is over ${maxBytes} bytes of JSON`);
  }
  return JSON.parse(json) as PresenceMember;
}
