/**
 * A copy of `s` that shares no memory with the string it was cut from. V8 represents a
 * substring of 13 characters or more as a slice that keeps its whole parent alive: an attribute
 * value kept for the life of a session (a stream id, a bound JID, a content type) would pin
 * the socket read or request body it was parsed from. JSON.parse builds a fresh flat string.
 */
export function ownString(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}
