// A small HTTP client for Gantry's APIs, shared by the CLI commands, and the stored login it sends.
//
// Credentials, first match wins: an explicit token (tests, embedding), $GANTRY_TOKEN (an access token
// or an API key `gak_…`, for scripts and CI), then the login `gantry login` stored in
// $GANTRY_CONFIG_DIR/credentials.json (default ~/.config/gantry), used only against the server it was
// issued by, so `--server` pointing elsewhere never leaks it. A stored login's access token is
// refreshed with its refresh token on a 401 and the request retried once.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { KindInfo } from '../crds/registry.ts';
import { GROUP, VERSION, type Resource } from '../crds/resource.ts';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
  ) {
    super(message);
  }
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

// ---- the stored login --------------------------------------------------------------------------------

export interface StoredLogin {
  server: string;
  token: string;
  refreshToken?: string;
  username?: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_CONFIG_DIR) return env.GANTRY_CONFIG_DIR;
  return path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config'), 'gantry');
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'credentials.json');
}

function parseLogin(text: string, file: string): StoredLogin {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ApiError(`${file} is not valid JSON (${(err as Error).message}): run \`gantry login\` again`, 0);
  }
  const l = v as Partial<StoredLogin> | null;
  if (!l || typeof l !== 'object' || typeof l.server !== 'string' || typeof l.token !== 'string') throw new ApiError(`${file} has no server and token: run \`gantry login\` again`, 0);
  return { server: l.server, token: l.token, refreshToken: typeof l.refreshToken === 'string' ? l.refreshToken : undefined, username: typeof l.username === 'string' ? l.username : undefined };
}

export async function readLogin(env: NodeJS.ProcessEnv = process.env): Promise<StoredLogin | undefined> {
  const file = credentialsPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ApiError(`cannot read ${file}: ${(err as Error).message}`, 0);
  }
  return parseLogin(text, file);
}

/** The server of the stored login, for the default of --server; undefined when none or unreadable. */
export function storedServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    const file = credentialsPath(env);
    return existsSync(file) ? parseLogin(readFileSync(file, 'utf8'), file).server : undefined;
  } catch {
    return undefined;
  }
}

/** --server's default: $GANTRY_SERVER, else the server you logged in to, else the local default. */
export function defaultServer(env: NodeJS.ProcessEnv = process.env): string {
  return env.GANTRY_SERVER || storedServer(env) || DEFAULT_SERVER;
}

/** Written to a 0600 temp file and renamed over the old one: a crash never leaves half a file. */
export async function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = credentialsPath(env);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(login, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
  return file;
}

export async function removeLogin(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = credentialsPath(env);
  const existed = existsSync(file);
  await rm(file, { force: true });
  return existed;
}

/** Same scheme, host and port: trailing slashes and paths do not make a different server. */
export function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return a === b;
  }
}

/**
 * Runs `fn` holding an exclusive lock file beside the credentials, so two CLI processes refreshing at
 * once do not both spend the same refresh token: the second would present a used token, which the
 * server treats as theft and answers by revoking the whole session.
 */
async function withCredentialsLock<T>(env: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  const lock = credentialsPath(env) + '.lock';
  await mkdir(path.dirname(lock), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fh = await open(lock, 'wx', 0o600);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a killed process must not block forever.
      if (Date.now() > deadline) {
        await rm(lock, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

// ---- the client ----------------------------------------------------------------------------------------

export interface ClientOptions {
  /** Send this token and nothing else (no refresh). */
  token?: string;
  /** Where GANTRY_TOKEN and GANTRY_CONFIG_DIR are read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

type Credential = { kind: 'explicit' | 'env'; token: string } | { kind: 'stored'; token: string; login: StoredLogin } | { kind: 'none' };

export interface RequestOptions {
  /** false: send no credentials (login, refresh). default true */
  auth?: boolean;
}

export class GantryClient {
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly server: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.env = opts.env ?? process.env;
  }

  path(info: KindInfo, namespace: string | undefined, name?: string): string {
    // The Kubernetes dialect's base path (api/kube/app.ts KUBE_BASE): one resource API, kubectl's.
    const base = `/k8s/apis/${GROUP}/${VERSION}`;
    const ns = info.scope === 'Namespaced' && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${base}${ns}/${info.plural}${name ? '/' + encodeURIComponent(name) : ''}`;
  }

  /** The bearer token requests would carry now (explicit, $GANTRY_TOKEN or the stored login's). */
  async currentToken(): Promise<string | undefined> {
    const cred = await this.credential();
    return cred.kind === 'none' ? undefined : cred.token;
  }

  private async credential(): Promise<Credential> {
    if (this.opts.token) return { kind: 'explicit', token: this.opts.token };
    if (this.env.GANTRY_TOKEN) return { kind: 'env', token: this.env.GANTRY_TOKEN };
    const login = await readLogin(this.env);
    if (login && sameServer(login.server, this.server)) return { kind: 'stored', token: login.token, login };
    return { kind: 'none' };
  }

  private async send(method: string, path: string, body: unknown, contentType: string, token: string | undefined): Promise<{ res: Response; json: unknown; text: string }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = contentType;
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined });
    } catch (err) {
      throw new ApiError(`cannot reach Gantry at ${this.server}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message} (is \`gantry up\` running? use --server URL)`, 0);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { res, json, text };
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', opts: RequestOptions = {}): Promise<T> {
    let cred: Credential = opts.auth === false ? { kind: 'none' } : await this.credential();
    let token = cred.kind === 'none' ? undefined : cred.token;
    let { res, json, text } = await this.send(method, path, body, contentType, token);
    if (res.status === 401 && cred.kind === 'stored') {
      const renewed = await this.renew(cred.login);
      if (renewed) {
        cred = { kind: 'stored', token: renewed.token, login: renewed };
        token = renewed.token;
        ({ res, json, text } = await this.send(method, path, body, contentType, token));
      }
    }
    const status = json as { message?: string; reason?: string } | undefined;
    if (res.status === 401 && opts.auth !== false) throw new ApiError(this.unauthorizedMessage(cred, status?.message), 401, status?.reason);
    if (!res.ok) throw new ApiError(status?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status, status?.reason);
    return json as T;
  }

  private unauthorizedMessage(cred: Credential, why: string | undefined): string {
    const detail = why ? ` (${why})` : '';
    switch (cred.kind) {
      case 'none':
        return `not logged in to ${this.server}: run \`gantry login --server ${this.server}\` (or set GANTRY_TOKEN)${detail}`;
      case 'env':
        return `GANTRY_TOKEN was refused by ${this.server}${detail}: set a valid token or API key, or unset it and run \`gantry login\``;
      case 'explicit':
        return `the token was refused by ${this.server}${detail}`;
      case 'stored':
        return `your login to ${this.server} has expired or was revoked${detail}: run \`gantry login\``;
    }
  }

  /**
   * A new access token from the stored refresh token, saved for the next command; undefined when the
   * session is over. Another process may have refreshed meanwhile: its saved token is used as is.
   */
  private async renew(used: StoredLogin): Promise<StoredLogin | undefined> {
    if (!used.refreshToken) return undefined;
    return withCredentialsLock(this.env, async () => {
      const current = await readLogin(this.env);
      if (!current || !sameServer(current.server, this.server) || !current.refreshToken) return undefined;
      if (current.token !== used.token) return current;
      const { res, json } = await this.send('POST', '/api/auth/refresh', { refreshToken: current.refreshToken }, 'application/json', undefined);
      if (!res.ok) return undefined;
      const data = (json as { data?: { token?: string; refreshToken?: string } }).data;
      if (!data?.token || !data.refreshToken) return undefined;
      const next: StoredLogin = { ...current, token: data.token, refreshToken: data.refreshToken };
      await writeLogin(next, this.env);
      return next;
    });
  }

  get<T extends Resource>(info: KindInfo, namespace: string | undefined, name: string): Promise<T> {
    return this.request('GET', this.path(info, namespace, name));
  }

  list<T extends Resource>(info: KindInfo, namespace: string | undefined): Promise<{ items: T[] }> {
    return this.request('GET', this.path(info, namespace));
  }
}
