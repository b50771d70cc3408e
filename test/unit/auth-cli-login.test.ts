// `gantry login` / `whoami` / `logout` against the real API over HTTP, typed at a (fake) terminal:
// what is asked, that the password is not echoed, the two-factor prompt, and that logout ends the
// session on the server too.
import { PassThrough } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { ApiServices } from '../../api/http/services.ts';
import { newTotpSecret, totpFor } from '../../api/auth/totp.ts';
import { readLogin } from '../../bin/client.ts';
import { loginCommand, logoutCommand, whoamiCommand } from '../../bin/commands/login.ts';
import { openTestEnv, type TestEnv } from '../helpers/env.ts';
import { apiServicesFor } from '../helpers/api.ts';

/** A terminal whose keystrokes are `keys` (sent once the prompt is written) and whose screen is `screen`. */
function fakeTerminal(answers: string[]) {
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  Object.assign(stdin, { isTTY: true, isRaw: false, setRawMode(v: boolean) { (stdin as { isRaw: boolean }).isRaw = v; return stdin; } });
  let screen = '';
  const stderr = {
    write(s: string) {
      screen += s;
      // Answer each prompt as a person would: the whole line, then Enter.
      if (/: $/.test(s) && answers.length) {
        const a = answers.shift()!;
        setImmediate(() => stdin.write(a + '\r'));
      }
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { term: { stdin, stderr }, screen: () => screen };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('gantry login at a terminal', () => {
  let env: TestEnv;
  let svc: ApiServices;
  let http: ServerType;
  let url: string;
  let cliEnv: NodeJS.ProcessEnv;
  beforeEach(async () => {
    env = await openTestEnv();
    svc = await apiServicesFor(env, { limits: { authPerMinute: 1000 } });
    const app = createApp({ store: env.store, registry: env.registry, events: env.events, log: env.log, api: svc });
    http = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    cliEnv = { GANTRY_CONFIG_DIR: await mkdtemp(path.join(tmpdir(), 'gantry-login-')) };
    await svc.accounts.createUser({ email: 'ops@example.com', username: 'ops', password: 'ops-password-1', roleIds: ['admin'] });
  });
  afterEach(async () => {
    await new Promise((r) => http.close(r));
    await rm(cliEnv.GANTRY_CONFIG_DIR!, { recursive: true, force: true });
    await env.close();
  });

  it('asks for the login and the password (without echo), stores the session; whoami and logout use it', async () => {
    const t = fakeTerminal(['ops@example.com', 'ops-password-1']);
    const c = capture();
    expect(await loginCommand(['--server', url], c.io, { env: cliEnv, term: t.term })).toBe(0);
    expect(t.screen()).toContain('Email or username: ops@example.com');
    expect(t.screen()).toContain('Password: ');
    expect(t.screen()).not.toContain('ops-password-1');
    expect(c.out[0]).toMatch(/^Logged in to .* as ops \(ops@example\.com\)/);
    const stored = await readLogin(cliEnv);
    expect(stored).toMatchObject({ server: url, username: 'ops' });

    const w = capture();
    expect(await whoamiCommand([], w.io, { env: cliEnv })).toBe(0);
    expect(w.out.join('\n')).toContain(`ops (ops@example.com) on ${url}`);

    const l = capture();
    expect(await logoutCommand([], l.io, { env: cliEnv })).toBe(0);
    expect(await readLogin(cliEnv)).toBeUndefined();
    await expect(svc.auth.fromBearer(stored!.token)).rejects.toMatchObject({ reason: 'session_revoked' });
    await expect(whoamiCommand(['--server', url], capture().io, { env: cliEnv })).rejects.toThrow(/not logged in .*gantry login/);
  });

  it('asks for the second factor when the account has one, and refuses a wrong password clearly', async () => {
    const user = svc.accounts.findUser('ops')!;
    const secret = newTotpSecret();
    await svc.accounts.setTotp(user.id, { secret, enabled: true, recoveryCodes: ['abcdef0123'] });

    const wrong = fakeTerminal(['wrong-password']);
    await expect(loginCommand(['--server', url, '--username', 'ops'], capture().io, { env: cliEnv, term: wrong.term })).rejects.toThrow(`login to ${url} failed: Invalid credentials`);

    const t = fakeTerminal(['ops-password-1', totpFor(user, secret).generate()]);
    expect(await loginCommand(['--server', url, '--username', 'ops'], capture().io, { env: cliEnv, term: t.term })).toBe(0);
    expect(t.screen()).toContain('Two-factor code (or a recovery code): ');

    const r = fakeTerminal(['ops-password-1']);
    expect(await loginCommand(['--server', url, '--username', 'ops', '--totp-code', 'abcdef0123'], capture().io, { env: cliEnv, term: r.term })).toBe(0);
    expect(r.screen()).not.toContain('Two-factor');
  });
});
