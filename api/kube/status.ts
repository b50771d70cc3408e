// Kubernetes `Status` bodies: every failure of the dialect answers one, with the reason and code a
// kube-apiserver uses, so kubectl prints its usual `Error from server (Reason): message` and client
// libraries classify the error (IsNotFound, IsConflict, IsInvalid, ...).
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isStoreError } from '../../controller/store/errors.ts';
import { isApiError } from '../http/errors.ts';
import type { Logger } from '../../lib/log.ts';

export type KubeReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Gone' | 'Expired'
  | 'Invalid' | 'MethodNotAllowed' | 'NotAcceptable' | 'UnsupportedMediaType' | 'RequestEntityTooLarge'
  | 'TooManyRequests' | 'InternalError' | 'Timeout' | 'ServiceUnavailable';

const CODES: Record<KubeReason, number> = {
  BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406,
  AlreadyExists: 409, Conflict: 409, Gone: 410, Expired: 410, RequestEntityTooLarge: 413, UnsupportedMediaType: 415,
  Invalid: 422, TooManyRequests: 429, InternalError: 500, Timeout: 504, ServiceUnavailable: 503,
};

export interface StatusDetails {
  name?: string;
  group?: string;
  /** The resource (plural), as an apiserver fills it. */
  kind?: string;
  uid?: string;
  causes?: { field?: string; message: string; reason: string }[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: KubeReason;
  details?: StatusDetails;
  code: number;
}

/** A refusal of the dialect itself (the store's and the primary API's errors are mapped in toStatus). */
export class KubeError extends Error {
  readonly code: number;
  constructor(readonly reason: KubeReason, message: string, readonly details?: StatusDetails) {
    super(message);
    this.name = 'KubeError';
    this.code = CODES[reason];
  }
}

export const kubeError = (reason: KubeReason, message: string, details?: StatusDetails) => new KubeError(reason, message, details);

/** What a resource is called in messages and details: `gameservers.gantry.dev "mc"`. */
export interface Target {
  resource: string;
  group: string;
  name?: string;
}

export function failure(reason: KubeReason, message: string, details?: StatusDetails): Status {
  const body: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: CODES[reason] };
  if (details && Object.values(details).some((v) => v !== undefined)) body.details = details;
  return body;
}

/**
 * Any error as a Status. Store errors keep their reason (NotFound, AlreadyExists, Conflict, Invalid with
 * field causes, Gone, BadRequest); the accounts layer's ApiError (401 from a token, 429) maps by code.
 * The target, when known, fills details as an apiserver does (resource plural and group).
 */
export function toStatus(err: unknown, target?: Target): Status | undefined {
  const base = target ? { group: target.group, kind: target.resource } : {};
  if (err instanceof KubeError) return failure(err.reason, err.message, err.details ?? (target ? { ...base, name: target.name } : undefined));
  if (isStoreError(err)) {
    const name = err.resourceName ?? target?.name;
    const details: StatusDetails = { ...base, name };
    if (err.causes.length) details.causes = err.causes.map((c) => ({ field: c.field, message: c.message, reason: 'FieldValueInvalid' }));
    const reason: KubeReason = err.reason === 'Gone' && /too old resource version/.test(err.message) ? 'Expired' : err.reason;
    return failure(reason, target && name !== undefined ? apiserverMessage(err.reason, err, target, name, details) : err.message, details);
  }
  if (isApiError(err)) {
    const byCode: Record<number, KubeReason> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 429: 'TooManyRequests' };
    const reason = byCode[err.statusCode];
    if (reason) {
      const retry = typeof err.extra?.retryAfter === 'number' ? { retryAfterSeconds: err.extra.retryAfter } : undefined;
      return failure(reason, err.message, retry);
    }
  }
  return undefined;
}

/**
 * The store names objects by kind (`GameServer "mc" not found`); an apiserver by qualified resource
 * (`gameservers.gantry.dev "mc" not found`), and kubectl prints an Invalid as `The GameServer "mc" is
 * invalid: <causes>` from details.kind, which is the Kind there. Same facts, the apiserver's words.
 */
function apiserverMessage(reason: string, err: Error & { kind?: string; causes: { field: string; message: string }[] }, t: Target, name: string, details: StatusDetails): string {
  const qualified = `${t.resource}${t.group ? '.' + t.group : ''} "${name}"`;
  switch (reason) {
    case 'NotFound':
      return `${qualified} not found`;
    case 'AlreadyExists':
      return `${qualified} already exists`;
    case 'Conflict': {
      const detail = err.message.includes(': ') ? err.message.slice(err.message.indexOf(': ') + 2) : err.message;
      return `Operation cannot be fulfilled on ${qualified}: ${detail}`;
    }
    case 'Invalid': {
      if (err.kind) details.kind = err.kind;
      const causes = err.causes.map((c) => `${c.field}: ${c.message}`);
      return `${err.kind ?? t.resource}${t.group ? '.' + t.group : ''} "${name}" is invalid: ${causes.length === 1 ? causes[0] : `[${causes.join(', ')}]`}`;
    }
    default:
      return err.message;
  }
}

export function statusReply(c: Context, err: unknown, log: Logger, target?: Target): Response {
  const status = toStatus(err, target);
  if (status) {
    if (status.details?.retryAfterSeconds !== undefined) c.header('Retry-After', String(status.details.retryAfterSeconds));
    return c.json(status, status.code as ContentfulStatusCode);
  }
  log.error('unhandled Kubernetes API error', { method: c.req.method, path: c.req.path, err });
  return c.json(failure('InternalError', 'an internal error occurred; it has been logged'), 500);
}
