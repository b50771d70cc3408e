// Errors with an HTTP status. Every ApiError is also an OpError (controller/operations/errors.ts) whose
// code follows from the status, so any dialect can render it; Catalyst's renders the exact status.
// Route code and shared API services (accounts, access) throw these; the operations layer throws
// OpErrors, which each dialect maps by code.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { STATUS_CODES } from 'node:http';
import { OpError, type OpCode } from '../../controller/operations/errors.ts';

const CODE_OF_STATUS: Record<number, OpCode> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  415: 'unsupported',
  422: 'invalid',
  423: 'locked',
  429: 'rate_limited',
  501: 'unsupported',
  502: 'failed',
  503: 'unavailable',
  504: 'timeout',
};

export class ApiError extends OpError {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Machine-readable cause (e.g. token_expired, server_suspended). */
    reason?: string,
    /** Extra fields merged into the body (e.g. retryAfter). */
    extra?: Record<string, unknown>,
  ) {
    super(CODE_OF_STATUS[statusCode] ?? (statusCode >= 500 ? 'failed' : 'invalid'), message, reason, extra);
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
