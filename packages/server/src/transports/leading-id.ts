/** How much of a refused frame is looked at for its request id: the id sits near the start. */
const PREFIX_BYTES = 256;
// `{"type":"publish","id":7,` as every client writes it (type, then id), or with the id first.
const LEADING_ID = /^\s*\{\s*(?:"type"\s*:\s*"[a-z]{1,32}"\s*,\s*)?"id"\s*:\s*(\d{1,15})\s*[,}]/;

/**
 * The request id at the start of a frame too large to parse, so that its error can name the request
 * and the client fail exactly that one. Bounded work whatever the frame's size; undefined when the
 * frame does not start the usual way.
 */
export function leadingRequestId(frame: Buffer): number | undefined {
  const match = LEADING_ID.exec(frame.toString('latin1', 0, PREFIX_BYTES));
  if (match === null) return undefined;
  const id = Number(match[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}
