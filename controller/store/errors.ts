import type { FieldError } from '../../crds/resource.ts';

// The reasons a store answers with. SqliteStore raises the first six; a remote store (KubeStore) also
// passes on what an apiserver or the way to it says: a refused token, a rate limit, a timeout, an
// apiserver that is down or failing.
export type StoreErrorReason =
  | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'Gone' | 'BadRequest'
  | 'Unauthorized' | 'Forbidden' | 'MethodNotAllowed' | 'RequestEntityTooLarge' | 'UnsupportedMediaType'
  | 'TooManyRequests' | 'Timeout' | 'InternalError' | 'ServiceUnavailable';

const CODES: Record<StoreErrorReason, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  Gone: 410,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  MethodNotAllowed: 405,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  TooManyRequests: 429,
  Timeout: 504,
  InternalError: 500,
  ServiceUnavailable: 503,
};

/** The reason of an HTTP status code, for a remote answer whose body names none of ours. */
export function reasonOfCode(code: number): StoreErrorReason {
  const found = (Object.entries(CODES) as [StoreErrorReason, number][]).find(([reason, c]) => c === code && reason !== 'AlreadyExists');
  if (found) return found[0];
  return code >= 500 ? 'InternalError' : 'BadRequest';
}

export const isStoreErrorReason = (v: unknown): v is StoreErrorReason => typeof v === 'string' && Object.hasOwn(CODES, v);

/** Kubernetes-style Status body (what the API returns for a failed call). */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StoreErrorReason;
  details?: { name?: string; kind?: string; causes?: { field: string; message: string; reason: string }[] };
  code: number;
}

/** A typed store failure. The API maps it 1:1 to an HTTP code and a Status body. */
export class StoreError extends Error {
  readonly reason: StoreErrorReason;
  readonly code: number;
  readonly kind?: string;
  readonly resourceName?: string;
  readonly causes: FieldError[];

  constructor(reason: StoreErrorReason, message: string, opts: { kind?: string; name?: string; causes?: FieldError[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreError';
    this.reason = reason;
    this.code = CODES[reason];
    this.kind = opts.kind;
    this.resourceName = opts.name;
    this.causes = opts.causes ?? [];
  }

  toStatus(): StatusBody {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: {
        name: this.resourceName,
        kind: this.kind,
        causes: this.causes.length
          ? this.causes.map((c) => ({ field: c.field, message: c.message, reason: 'FieldValueInvalid' }))
          : undefined,
      },
      code: this.code,
    };
  }
}

export const notFound = (kind: string, name: string) =>
  new StoreError('NotFound', `${kind} "${name}" not found`, { kind, name });
export const alreadyExists = (kind: string, name: string) =>
  new StoreError('AlreadyExists', `${kind} "${name}" already exists`, { kind, name });
export const conflict = (kind: string, name: string, detail: string) =>
  new StoreError('Conflict', `Operation cannot be fulfilled on ${kind} "${name}": ${detail}`, { kind, name });
export const invalid = (kind: string, name: string, causes: FieldError[]) =>
  new StoreError(
    'Invalid',
    `${kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`,
    { kind, name, causes },
  );
export const gone = (message: string) => new StoreError('Gone', message);
export const badRequest = (message: string, causes: FieldError[] = []) => new StoreError('BadRequest', message, { causes });

export const isStoreError = (e: unknown, reason?: StoreErrorReason): e is StoreError =>
  e instanceof StoreError && (reason === undefined || e.reason === reason);
