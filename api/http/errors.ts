// Errors of the primary (Catalyst) API: `{error, statusCode, message}`, plus `reason` when a client can
// act on a machine-readable cause. Route code throws ApiError; the app's error handler renders it.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { STATUS_CODES } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Machine-readable cause (e.g. token_expired, server_suspended). */
    readonly reason?: string,
    /** Extra fields merged into the body (e.g. retryAfter). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, reason?: string) => new ApiError(400, message, reason);
export const unauthorized = (message: string, reason?: string) => new ApiError(401, message, reason);
export const forbidden = (message = 'You do not have permission to perform this action', reason?: string) => new ApiError(403, message, reason);
export const notFound = (message: string) => new ApiError(404, message, 'not_found');
export const conflict = (message: string, reason?: string) => new ApiError(409, message, reason);
export const locked = (message: string) => new ApiError(423, message, 'server_suspended');

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

export function catalystErrorBody(statusCode: number, message: string, reason?: string, extra?: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { error: STATUS_CODES[statusCode] ?? 'Error', statusCode, message };
  if (reason) body.reason = reason;
  return extra ? { ...body, ...extra } : body;
}

/** Catalyst's error body as a response. */
export function catalystError(c: Context, statusCode: number, message: string, reason?: string, extra?: Record<string, unknown>): Response {
  return c.json(catalystErrorBody(statusCode, message, reason, extra), statusCode as ContentfulStatusCode);
}
