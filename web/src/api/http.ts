// The REST client of the primary API (Catalyst's `/api`, `{success, data}`), used by every page.
// A 401 saying the access token expired or is invalid is answered by one refresh and one retry, so a
// session outliving its access token never loses the page; any other failure is an ApiError with the
// API's own message.
import { ApiError, errorFromResponse } from './errors.ts';
import type { Session } from './session.ts';

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** Send without the Authorization header (login, setup). */
  anonymous?: boolean;
}

/** 401 reasons that a new access token can cure. */
const REFRESHABLE = new Set(['token_expired', 'token_invalid', 'no_token']);

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

export class ApiClient {
  constructor(
    readonly session: Session,
    private readonly fetchFn: typeof fetch,
    readonly base = '',
  ) {}

  /** The whole answer body (`{success, data, pagination?, message?}`). */
  async call<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new ApiError(res.status, `the answer to ${method} ${path} is not JSON`);
    }
  }

  /** `data` of the answer. */
  async data<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.call<{ data: T }>(method, path, opts))?.data as T;
  }

  get<T = unknown>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.data<T>('GET', path, { query, signal });
  }

  /** Every page of a paged list (`pagination.pages`). */
  async all<T = unknown>(path: string, query: Query = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const body = await this.call<{ data: T[]; pagination?: { pages: number } }>('GET', path, { query: { ...query, page, limit: 100 } });
      out.push(...(body.data ?? []));
      if (!body.pagination || page >= body.pagination.pages) return out;
    }
  }

  /** The raw response of a successful call (downloads, uploads), refreshed like the rest. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const attempt = async (token: string | undefined): Promise<Response> => {
      const headers: Record<string, string> = {};
      if (opts.body !== undefined && !(opts.body instanceof FormData)) headers['content-type'] = 'application/json';
      if (token) headers.authorization = `Bearer ${token}`;
      try {
        return await this.fetchFn(this.base + withQuery(path, opts.query), {
          method,
          headers,
          body: opts.body === undefined ? undefined : opts.body instanceof FormData ? opts.body : JSON.stringify(opts.body),
          signal: opts.signal,
        });
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        throw new ApiError(0, `Cannot reach Gantry (${(err as Error).message}): check the connection and try again`, 'network');
      }
    };
    const token = opts.anonymous ? undefined : await this.session.accessToken();
    let res = await attempt(token);
    if (res.status === 401 && token) {
      const err = await errorFromResponse(res.clone());
      if (!err.reason || REFRESHABLE.has(err.reason)) {
        await this.session.refresh(token);
        res = await attempt(this.session.current?.token);
      } else {
        // Session revoked, user disabled: the session is over.
        this.session.set(undefined);
        throw err;
      }
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}
