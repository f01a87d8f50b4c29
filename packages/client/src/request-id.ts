let last = 0;

/** Ids that match replies to requests. One sequence for every request kind, so a reply is never mistaken for another's. */
export function nextRequestId(): number {
  return ++last;
}
