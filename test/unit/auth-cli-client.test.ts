// The CLI client's credentials against a small HTTP server that rotates refresh tokens the way Gantry
// does (a spent refresh token is refused): which credential is sent where, refresh on 401 with one
// retry, one refresh for concurrent processes, and the stored file itself.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, GantryClient, credentialsPath, defaultServer, readLogin, sameServer, writeLogin } from '../../bin/client.ts';

interface Fake {
  url: string;
  server: Server;
  valid: Set<string>;
  refreshes: number;
  seen: (string | undefined)[];
}

async function fakeGantry(): Promise<Fake> {
  const fake = { valid: new Set(['access-0']), refreshes: 0, seen: [] as (string | undefined)[] } as Fake;
  let live = 'refresh-0';
  let n = 0;
  fake.server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const send = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (req.url === '/api/auth/refresh') {
        fake.refreshes++;
        const { refreshToken } = JSON.parse(body) as { refreshToken: string };
        if (refreshToken !== live) return send(401, { statusCode: 401, message: 'Refresh token already used', reason: 'token_reused' });
        n++;
        live = `refresh-${n}`;
        fake.valid.add(`access-${n}`);
        return send(200, { success: true, data: { token: `access-${n}`, refreshToken: live } });
      }
      const auth = req.headers.authorization;
      fake.seen.push(auth);
      if (!auth || !fake.valid.has(auth.replace(/^Bearer /, ''))) return send(401, { statusCode: 401, message: auth ? 'Token expired' : 'Authentication required', reason: 'token_expired' });
      return send(200, { success: true, data: { username: 'admin' } });
    });
  });
  await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

describe('CLI client credentials', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let fake: Fake;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-cli-'));
    env = { GANTRY_CONFIG_DIR: path.join(dir, 'config') };
    fake = await fakeGantry();
  });
  afterEach(async () => {
    await new Promise((r) => fake.server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('stores the login 0600 and reads it back; --server defaults to it', async () => {
    expect(defaultServer(env)).toBe('http://127.0.0.1:8080');
    const file = await writeLogin({ server: fake.url, token: 'access-0', refreshToken: 'refresh-0' }, env);
    expect(file).toBe(credentialsPath(env));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readLogin(env)).toMatchObject({ server: fake.url, token: 'access-0' });
    expect(defaultServer(env)).toBe(fake.url);
    expect(defaultServer({ ...env, GANTRY_SERVER: 'http://elsewhere:1' })).toBe('http://elsewhere:1');
    expect(sameServer(`${fake.url}/`, fake.url)).toBe(true);
    expect(sameServer(fake.url, fake.url.replace('127.0.0.1', 'localhost'))).toBe(false);

    await writeFile(file, '{"server": ');
    await expect(new GantryClient(fake.url, { env }).request('GET', '/api/auth/me')).rejects.toThrow(/credentials\.json is not valid JSON .*gantry login/);
  });

  it('sends GANTRY_TOKEN first, the stored login only to its own server, nothing otherwise', async () => {
    await writeLogin({ server: fake.url, token: 'access-0', refreshToken: 'refresh-0' }, env);
    await new GantryClient(fake.url, { env }).request('GET', '/api/auth/me');
    expect(fake.seen.at(-1)).toBe('Bearer access-0');

    fake.valid.add('gak_key');
    await new GantryClient(fake.url, { env: { ...env, GANTRY_TOKEN: 'gak_key' } }).request('GET', '/api/auth/me');
    expect(fake.seen.at(-1)).toBe('Bearer gak_key');

    // Same port, other host name: a different server as far as the stored login is concerned.
    const other = fake.url.replace('127.0.0.1', 'localhost');
    const err = await new GantryClient(other, { env }).request('GET', '/api/auth/me').catch((e: unknown) => e);
    expect(fake.seen.at(-1)).toBeUndefined();
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe(`not logged in to ${other}: run \`gantry login --server ${other}\` (or set GANTRY_TOKEN) (Authentication required)`);

    const refused = await new GantryClient(fake.url, { env: { ...env, GANTRY_TOKEN: 'nope' } }).request('GET', '/api/auth/me').catch((e: unknown) => e);
    expect((refused as ApiError).message).toMatch(/^GANTRY_TOKEN was refused/);
    expect(fake.refreshes).toBe(0);
  });

  it('refreshes a refused stored token once, saves the new pair and retries', async () => {
    await writeLogin({ server: fake.url, token: 'stale', refreshToken: 'refresh-0' }, env);
    await expect(new GantryClient(fake.url, { env }).request('GET', '/api/auth/me')).resolves.toMatchObject({ data: { username: 'admin' } });
    expect(fake.seen.slice(-2)).toEqual(['Bearer stale', 'Bearer access-1']);
    expect(await readLogin(env)).toMatchObject({ token: 'access-1', refreshToken: 'refresh-1' });

    // A dead session: the refresh is refused and the message says to log in again.
    await writeLogin({ server: fake.url, token: 'stale', refreshToken: 'refresh-0' }, env);
    const err = await new GantryClient(fake.url, { env }).request('GET', '/api/auth/me').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401, message: expect.stringMatching(/has expired or was revoked .*: run `gantry login`$/) });
  });

  it('refreshes once when several processes find the token stale at the same time', async () => {
    await writeLogin({ server: fake.url, token: 'stale', refreshToken: 'refresh-0' }, env);
    const results = await Promise.all(Array.from({ length: 5 }, () => new GantryClient(fake.url, { env }).request('GET', '/api/auth/me')));
    expect(results).toHaveLength(5);
    expect(fake.refreshes).toBe(1);
    expect(JSON.parse(await readFile(credentialsPath(env), 'utf8'))).toMatchObject({ token: 'access-1', refreshToken: 'refresh-1' });
  });
});
