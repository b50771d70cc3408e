export { CLOSE_REPLACED, CLOSE_REVOKED, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_VERSION, CLOSE_GOING_AWAY } from '../../agent/protocol.ts';

/** A close reason must fit in 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= 123) return text;
  return buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}
