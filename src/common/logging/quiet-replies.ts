/**
 * Replies already accounted for elsewhere, which the access log leaves out: the 503s of a
 * database outage are counted by the line that closes the outage, rather than written one line
 * per request.
 */
const quiet = new WeakSet<object>();

export function markQuietReply(response: object): void {
  quiet.add(response);
}

export function isQuietReply(response: object): boolean {
  return quiet.has(response);
}
