// A streamed response body (file and backup downloads).
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';

/**
 * `stream` as a 200 response with `headers` (besides those the pipeline set, X-RateLimit-*). On the
 * Node server it is piped into the response itself: wrapping it in a web ReadableStream for Hono
 * (Readable.toWeb) cost a quarter of a download's time. A client that goes away destroys the stream,
 * which stops the transfer at its source; a source that fails cuts the response short.
 */
export function streamResponse(c: Context, stream: Readable, headers: Record<string, string>): Response {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (!outgoing) return c.body(Readable.toWeb(stream) as unknown as ReadableStream, 200, headers);
  // newResponse merges the headers the pipeline prepared; reading c.res instead would make Hono
  // re-create the returned response, and @hono/node-server would then write its head a second time.
  outgoing.writeHead(200, Object.fromEntries(c.newResponse(null, 200, headers).headers));
  pipeline(stream, outgoing).catch(() => {}); // the failure is the client's short body; the source logs its own
  return RESPONSE_ALREADY_SENT;
}
