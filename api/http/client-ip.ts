import type { Context } from 'hono';

/**
 * The caller's address: the socket's peer, or the first X-Forwarded-For hop when Gantry is told it sits
 * behind a proxy (trusting the header otherwise would let anyone pick their own rate-limit bucket).
 */
export function clientIp(c: Context, trustProxy = false): string | undefined {
  if (trustProxy) {
    const fwd = c.req.header('x-forwarded-for');
    if (fwd) return fwd.split(',')[0]!.trim();
  }
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}
