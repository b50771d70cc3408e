// Enrolment: a one-time deployment token becomes a long-lived node credential, kept in
// DATA_DIR/credential.json (mode 0600, written to a temp file in the same dir, fsynced, then renamed,
// so a crash never leaves half a file). Later starts use the stored credential and ignore --token
// unless the controller rejects the credential (see bin/commands/agent.ts).
//
// A 4xx answer to enrolment is final (the token is wrong, expired or used: retrying cannot help) and
// carries the controller's message; a network error or 5xx is retried with backoff (the controller may
// simply not be up yet).

import { createHash } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../lib/log.ts';
import { GANTRY_VERSION } from '../lib/version.ts';
import { backoffDelay, errorMessageFromBody, panelUrl, type BackoffOptions } from './connection.ts';
import { AGENT_ENROLL_PATH, type EnrollRequest, type EnrollResponse } from './protocol.ts';

export const CREDENTIAL_FILE = 'credential.json';

export interface StoredCredential {
  panel: string;
  nodeName: string;
  nodeUid: string;
  credential: string;
  enrolledAt: string;
  /** sha256 of the deployment token this credential was obtained with (the token itself is not kept). */
  tokenSha256?: string;
}

/** The controller refused the enrolment (4xx): final. */
export class EnrollmentRefusedError extends Error {
  override readonly name = 'EnrollmentRefusedError';
  constructor(readonly status: number, readonly reason: string) {
    super(`enrolment refused (HTTP ${status}): ${reason}`);
  }
}

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export const credentialPath = (dataDir: string): string => path.join(dataDir, CREDENTIAL_FILE);

/** The stored credential, or undefined when there is none. A corrupt file is an error (never silently replaced). */
export async function loadCredential(dataDir: string): Promise<StoredCredential | undefined> {
  let text: string;
  try {
    text = await readFile(credentialPath(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let c: Partial<StoredCredential>;
  try {
    c = JSON.parse(text) as Partial<StoredCredential>;
  } catch (err) {
    throw new Error(`${credentialPath(dataDir)} is not valid JSON (${(err as Error).message}); remove it and enrol again with --token`);
  }
  for (const k of ['panel', 'nodeName', 'nodeUid', 'credential'] as const) {
    if (typeof c[k] !== 'string' || !c[k]) throw new Error(`${credentialPath(dataDir)} lacks "${k}"; remove it and enrol again with --token`);
  }
  return c as StoredCredential;
}

/** Atomically writes the credential with mode 0600. */
export async function saveCredential(dataDir: string, cred: StoredCredential): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const target = credentialPath(dataDir);
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(JSON.stringify(cred, null, 2) + '\n', 'utf8');
    await fh.chmod(0o600); // the umask cannot have widened it, but be explicit
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await chmod(target, 0o600);
  // Make the rename itself durable.
  const dir = await open(dataDir, 'r').catch(() => undefined);
  await dir?.sync().catch(() => {});
  await dir?.close();
}

export interface EnrollOptions {
  panel: string;
  token: string;
  log?: Logger;
  backoff?: Partial<BackoffOptions>;
  /** Give up retrying transient failures when this aborts. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Per-attempt HTTP timeout (default 15 s). */
  timeoutMs?: number;
}

/**
 * Exchanges the deployment token for a node credential. Retries network errors and 5xx forever
 * (jittered backoff) until `signal` aborts; throws EnrollmentRefusedError on 4xx.
 */
export async function enroll(opts: EnrollOptions): Promise<EnrollResponse> {
  const log = opts.log ?? createLogger({ component: 'agent.enroll' });
  const url = panelUrl(opts.panel, AGENT_ENROLL_PATH);
  const body: EnrollRequest = { token: opts.token, agentVersion: GANTRY_VERSION, hostname: os.hostname() };
  const doFetch = opts.fetch ?? fetch;
  const backoff = { initialMs: 500, maxMs: 30_000, ...opts.backoff };
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new Error('enrolment aborted');
    let problem: string;
    try {
      const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? 15_000)]) : AbortSignal.timeout(opts.timeoutMs ?? 15_000);
      const res = await doFetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body), signal });
      const text = await res.text();
      if (res.status === 200 || res.status === 201) {
        let r: Partial<EnrollResponse>;
        try {
          r = JSON.parse(text) as Partial<EnrollResponse>;
        } catch {
          throw new EnrollmentRefusedError(res.status, `the controller's answer is not JSON: ${text.slice(0, 200)}`);
        }
        if (typeof r.credential !== 'string' || !r.credential || typeof r.nodeName !== 'string' || typeof r.nodeUid !== 'string') {
          throw new EnrollmentRefusedError(res.status, 'the controller\'s answer lacks credential, nodeName or nodeUid');
        }
        return { nodeName: r.nodeName, nodeUid: r.nodeUid, credential: r.credential };
      }
      const message = errorMessageFromBody(res.status, text);
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new EnrollmentRefusedError(res.status, message);
      problem = `HTTP ${res.status}: ${message}`;
    } catch (err) {
      if (err instanceof EnrollmentRefusedError) throw err;
      if (opts.signal?.aborted) throw new Error('enrolment aborted');
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      problem = cause?.code ? `${(err as Error).message} (${cause.code})` : (err as Error).message;
    }
    const delayMs = Math.max(200, backoffDelay(attempt, backoff));
    log.warn('enrolment failed; retrying', { url, problem, attempt: attempt + 1, delayMs });
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delayMs);
      opts.signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
}

export interface ObtainOptions {
  dataDir: string;
  panel?: string;
  token?: string;
  log?: Logger;
  signal?: AbortSignal;
  backoff?: Partial<BackoffOptions>;
  fetch?: typeof fetch;
}

/** Thrown when the agent cannot start for a reason the operator must fix (exit code 2). */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

/**
 * The credential to connect with: the stored one (then --token is ignored, and logged as such), else
 * a fresh enrolment with --token, stored before it is used.
 */
export async function obtainCredential(o: ObtainOptions): Promise<{ cred: StoredCredential; enrolled: boolean }> {
  const log = o.log ?? createLogger({ component: 'agent.enroll' });
  const stored = await loadCredential(o.dataDir);
  if (stored) {
    if (o.token) log.info('a node credential is stored; ignoring --token (it is used only if the controller rejects the credential)', { file: credentialPath(o.dataDir), nodeName: stored.nodeName });
    const panel = o.panel ?? stored.panel;
    if (o.panel && stored.panel !== o.panel) log.warn('--panel differs from the panel this node enrolled with; using --panel', { enrolledWith: stored.panel, panel: o.panel });
    return { cred: { ...stored, panel }, enrolled: false };
  }
  if (!o.panel) throw new AgentConfigError(`no node credential in ${o.dataDir}: give --panel URL and --token TOKEN to enrol this node`);
  if (!o.token) throw new AgentConfigError(`no node credential in ${o.dataDir}: give --token TOKEN (a deployment token from the panel) to enrol this node`);
  return { cred: await enrollAndStore({ ...o, panel: o.panel, token: o.token }, log), enrolled: true };
}

/** Enrols with the token and stores the credential. */
export async function enrollAndStore(o: ObtainOptions & { panel: string; token: string }, log: Logger): Promise<StoredCredential> {
  log.info('enrolling this node with the deployment token', { panel: o.panel });
  const r = await enroll({ panel: o.panel, token: o.token, log, signal: o.signal, backoff: o.backoff, fetch: o.fetch });
  const cred: StoredCredential = { panel: o.panel, nodeName: r.nodeName, nodeUid: r.nodeUid, credential: r.credential, enrolledAt: new Date().toISOString(), tokenSha256: tokenHash(o.token) };
  await saveCredential(o.dataDir, cred);
  log.info('node enrolled; credential stored', { nodeName: r.nodeName, nodeUid: r.nodeUid, file: credentialPath(o.dataDir) });
  return cred;
}
