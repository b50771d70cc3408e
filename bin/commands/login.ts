// `gantry login`, `gantry logout`, `gantry whoami`: the CLI's session with a Gantry server.
// The login is stored 0600 in $GANTRY_CONFIG_DIR/credentials.json (see bin/client.ts); scripts can
// instead set GANTRY_TOKEN to an access token or an API key.
import { parseCliArgs } from '../args.ts';
import { ApiError, GantryClient, credentialsPath, defaultServer, readLogin, removeLogin, writeLogin } from '../client.ts';
import type { CommandIO } from './resources.ts';

export const LOGIN_USAGE = `Usage:
  gantry login [--server URL] [--email E | --username U] [--password-stdin] [--totp-code CODE]
      sign in and store the session in ${'$'}GANTRY_CONFIG_DIR/credentials.json (default ~/.config/gantry);
      asks for what is missing when run in a terminal (the password without echo)
  gantry logout       end the stored session on the server and forget it
  gantry whoami [-o json]   who the CLI is signed in as`;

interface Terminal {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
}

const defaultTerminal = (): Terminal => ({ stdin: process.stdin, stderr: process.stderr });

/** Reads a line from the terminal; with `silent` nothing typed is echoed (raw mode, like sudo). */
export function promptLine(question: string, silent: boolean, term: Terminal = defaultTerminal()): Promise<string> {
  const { stdin, stderr } = term;
  stderr.write(question);
  return new Promise((resolve, reject) => {
    let line = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode?.(true);
    stdin.setEncoding('utf8');
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode?.(wasRaw ?? false);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') {
          if (line.length) {
            line = line.slice(0, -1);
            if (!silent) stderr.write('\b \b');
          }
          continue;
        }
        if (ch < ' ') continue;
        line += ch;
        if (!silent) stderr.write(ch);
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function readStdinLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  // The first line only, so `echo secret | gantry login --password-stdin` works as docker login's does.
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

interface LoginData {
  userId: string;
  username: string;
  email: string;
  token: string;
  refreshToken: string;
}

export interface LoginDeps {
  env?: NodeJS.ProcessEnv;
  term?: Terminal;
}

export async function loginCommand(argv: string[], io: CommandIO, deps: LoginDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const term = deps.term ?? defaultTerminal();
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(LOGIN_USAGE);
    return 0;
  }
  const { values, positionals } = parseCliArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string', default: defaultServer(env) },
      email: { type: 'string' },
      username: { type: 'string', short: 'u' },
      'password-stdin': { type: 'boolean' },
      'totp-code': { type: 'string' },
    },
  });
  if (positionals.length) {
    io.err(`unexpected argument "${positionals[0]}"\n\n${LOGIN_USAGE}`);
    return 2;
  }
  if (values.email && values.username) {
    io.err(`give --email or --username, not both\n\n${LOGIN_USAGE}`);
    return 2;
  }
  const interactive = !!term.stdin.isTTY;
  let identity: { email?: string; username?: string };
  if (values.email) identity = { email: values.email };
  else if (values.username) identity = { username: values.username };
  else if (interactive && !values['password-stdin']) {
    const who = (await promptLine('Email or username: ', false, term)).trim();
    if (!who) throw new ApiError('no email or username given', 0);
    identity = who.includes('@') ? { email: who } : { username: who };
  } else {
    io.err(`gantry login needs --email or --username (there is no terminal to ask on)\n\n${LOGIN_USAGE}`);
    return 2;
  }

  let password: string;
  if (values['password-stdin']) password = await readStdinLine(term.stdin);
  else if (interactive) password = await promptLine('Password: ', true, term);
  else {
    io.err('there is no terminal to ask for the password: pipe it in with --password-stdin');
    return 2;
  }
  if (!password) throw new ApiError('the password is empty', 0);

  const client = new GantryClient(values.server, { env });
  const body: Record<string, string> = { ...identity, password } as Record<string, string>;
  if (values['totp-code']) body[/^\d{6}$/.test(values['totp-code'].trim()) ? 'totpCode' : 'recoveryCode'] = values['totp-code'].trim();
  let data: LoginData;
  try {
    data = (await client.request<{ data: LoginData }>('POST', '/api/auth/login', body, 'application/json', { auth: false })).data;
  } catch (err) {
    if (!(err instanceof ApiError && err.reason === 'totp_required')) throw loginError(err, values.server);
    if (!interactive || values['password-stdin']) {
      io.err('this account has two-factor authentication on: pass --totp-code CODE (a current code, or a recovery code)');
      return 1;
    }
    const code = (await promptLine('Two-factor code (or a recovery code): ', false, term)).trim();
    body[/^\d{6}$/.test(code) ? 'totpCode' : 'recoveryCode'] = code;
    try {
      data = (await client.request<{ data: LoginData }>('POST', '/api/auth/login', body, 'application/json', { auth: false })).data;
    } catch (again) {
      throw loginError(again, values.server);
    }
  }
  const file = await writeLogin({ server: values.server, token: data.token, refreshToken: data.refreshToken, username: data.username }, env);
  io.out(`Logged in to ${values.server} as ${data.username} (${data.email}). Credentials saved in ${file}`);
  if (env.GANTRY_TOKEN) io.err('note: GANTRY_TOKEN is set and takes precedence over this login until it is unset');
  return 0;
}

function loginError(err: unknown, server: string): Error {
  if (err instanceof ApiError && err.status === 401) return new ApiError(`login to ${server} failed: ${err.message}`, 401, err.reason);
  return err as Error;
}

export async function logoutCommand(argv: string[], io: CommandIO, deps: LoginDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  parseCliArgs({ args: argv, options: {} });
  const login = await readLogin(env);
  if (!login) {
    io.out(`Not logged in (no ${credentialsPath(env)})`);
    return 0;
  }
  // End the session on the server too, so the tokens in the file are dead even if a copy exists.
  // The file is removed either way: an unreachable server must not keep you logged in locally.
  try {
    await new GantryClient(login.server, { token: login.token, env }).request('POST', '/api/auth/logout');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) io.err(`warning: could not end the session on ${login.server}: ${(err as Error).message}`);
  }
  await removeLogin(env);
  io.out(`Logged out of ${login.server}`);
  return 0;
}

interface Me {
  id: string;
  username: string;
  email: string;
  roles: { id: string; name: string }[];
  permissions: string[];
  via: string;
  totpEnabled: boolean;
}

export async function whoamiCommand(argv: string[], io: CommandIO, deps: LoginDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const { values } = parseCliArgs({ args: argv, options: { server: { type: 'string', default: defaultServer(env) }, output: { type: 'string', short: 'o' } } });
  const me = (await new GantryClient(values.server, { env }).request<{ data: Me }>('GET', '/api/auth/me')).data;
  if (values.output === 'json') {
    io.out(JSON.stringify({ server: values.server, ...me }, null, 2));
    return 0;
  }
  io.out(`${me.username} (${me.email}) on ${values.server}`);
  io.out(`roles: ${me.roles.map((r) => r.name).join(', ') || '(none)'}`);
  io.out(`signed in with: ${me.via === 'apikey' ? 'an API key' : me.via === 'session' ? 'a login session' : me.via}${me.totpEnabled ? ', two-factor on' : ''}`);
  return 0;
}
