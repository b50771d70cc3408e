// WebSocket close codes the hub uses (4000–4999 are for applications). The agent may act on them:
// after REPLACED or REVOKED reconnecting with the same credential is pointless.
export const CLOSE_REPLACED = 4000;
/** The node credential was revoked (token rotation, node deleted): re-enrol with a new token. */
export const CLOSE_REVOKED = 4001;
/** The first frame was not a valid hello, or hello did not come in time. */
export const CLOSE_PROTOCOL_ERROR = 4002;
/** The agent speaks another protocol version. */
export const CLOSE_UNSUPPORTED_VERSION = 4003;
/** The controller is shutting down (standard "going away"). */
export const CLOSE_GOING_AWAY = 1001;

/** A close reason must fit in 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= 123) return text;
  return buf.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}
