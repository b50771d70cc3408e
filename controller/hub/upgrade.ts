// Raw HTTP on an upgrade socket: before a WebSocket is accepted there is no response object, so a
// refusal is written by hand, one status line and a one-line reason, then the socket is closed.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export function rejectUpgrade(socket: Duplex, status: number, reason: string, extraHeaders: Record<string, string> = {}): void {
  // A peer that vanished mid-write must not become an unhandled 'error' event.
  socket.on('error', () => {});
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = reason.replace(/[\r\n]+/g, ' ') + '\n';
  const headers: Record<string, string> = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    ...extraHeaders,
  };
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  socket.once('finish', () => socket.destroy());
  socket.end(head + body);
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  return m?.[1];
}

/** The path of a request, without the query. */
export function requestPath(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return '';
  }
}
