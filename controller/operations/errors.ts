// The one error of the operations layer: a string code every dialect maps to its own status and body
// (Catalyst: not_found → 404 `{error, statusCode, message, reason}`; another panel its own shape), a
// message a person can act on, and an optional machine-readable reason (Catalyst's `reason`).
export type OpCode =
  | 'invalid' // the request is malformed or breaks a rule of the resource (bad value, missing field)
  | 'not_found'
  | 'conflict' // the current state forbids it (not stopped, already exists, in use)
  | 'insufficient_resources' // the node lacks memory, CPU, disk or ports
  | 'locked' // the server is suspended
  | 'forbidden' // the caller lacks a permission
  | 'unauthorized' // the caller is not (or no longer) signed in
  | 'unavailable' // a part it needs is down (node offline, no agent hub)
  | 'timeout' // a part it needs did not answer in time
  | 'too_large'
  | 'rate_limited'
  | 'unsupported' // a content type or feature this deployment does not serve
  | 'failed'; // a part it needs failed (an agent's error)

export class OpError extends Error {
  constructor(
    readonly code: OpCode,
    message: string,
    /** Machine-readable cause, e.g. server_not_stopped, port_unavailable, already_exists. */
    readonly reason?: string,
    /** Extra fields a dialect may put in the body (e.g. retryAfter, per-item results). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'OpError';
  }
}

export function isOpError(err: unknown): err is OpError {
  return err instanceof OpError;
}

export const invalid = (message: string, reason?: string) => new OpError('invalid', message, reason);
export const notFound = (message: string, reason = 'not_found') => new OpError('not_found', message, reason);
export const conflict = (message: string, reason?: string) => new OpError('conflict', message, reason);
export const locked = (message: string, reason = 'server_suspended') => new OpError('locked', message, reason);
export const unavailable = (message: string, reason?: string) => new OpError('unavailable', message, reason);
