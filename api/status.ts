import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { StoreError, isStoreError, badRequest } from '../controller/store/errors.ts';
import type { Logger } from '../lib/log.ts';

/** Kubernetes-style Status body for any failure; unknown errors become a logged 500 without internals. */
export function statusResponse(c: Context, err: unknown, log: Logger): Response {
  if (isStoreError(err)) return c.json(err.toStatus(), err.code as ContentfulStatusCode);
  log.error('unhandled API error', { method: c.req.method, path: c.req.path, err });
  const body = new StoreError('BadRequest', 'internal error').toStatus();
  return c.json({ ...body, reason: 'InternalError', code: 500 }, 500);
}

/** Reads a JSON body, turning malformed input into a 400 that says where it broke. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}
