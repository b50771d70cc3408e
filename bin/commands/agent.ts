// `gantry agent --panel URL --token TOKEN --data-dir DIR`: the node agent, until SIGINT/SIGTERM.
//
// Exit codes: 0 after a clean shutdown on a signal (containers keep running); 2 when the operator must
// act: enrolment refused (wrong, expired or used token), the node credential rejected (node deleted or
// its credential rotated) and no fresh --token to re-enrol with, or missing --panel/--token; 1 on any
// other failure.
import path from 'node:path';
import { Agent, type AgentOptions } from '../../agent/agent.ts';
import { panelUrl } from '../../agent/connection.ts';
import { AgentConfigError, EnrollmentRefusedError, enrollAndStore, obtainCredential, tokenHash, type StoredCredential } from '../../agent/credentials.ts';
import { rootLogger } from '../../lib/log.ts';

/** The Agent's own options for tests and embedding, plus what enrolment needs. */
export interface AgentCommandOptions extends Pick<AgentOptions, 'docker' | 'log' | 'scopeLabels' | 'namePrefix' | 'connection'> {
  /** The controller's base URL; optional once a credential is stored (the stored panel is used). */
  panel?: string;
  /** One-time deployment token: used on first start, or to re-enrol after the credential is rejected. */
  token?: string;
  /** Where the credential, the servers' data (servers/) and scratch files (work/) live. */
  dataDir: string;
  /** Aborting it stops the agent like SIGTERM. */
  signal?: AbortSignal;
  /** Where fatal messages for the operator go (default: stderr). */
  stderr?: (line: string) => void;
  /** Listen for SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Called once the agent is started (tests). */
  onStarted?: (agent: Agent) => void;
}

export async function agentCommand(opts: AgentCommandOptions): Promise<number> {
  const log = opts.log ?? rootLogger.child({ component: 'agent' });
  const stderr = opts.stderr ?? ((l: string) => process.stderr.write(l + '\n'));
  const dataDir = path.resolve(opts.dataDir);
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log.info('signal received; shutting down', { signal: sig });
    stop.abort();
  };
  const handleSignals = opts.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop.abort();

  let agent: Agent | undefined;
  try {
    if (opts.panel !== undefined) {
      try {
        panelUrl(opts.panel, '/');
      } catch (err) {
        stderr(`error: --panel: ${(err as Error).message}`);
        return 2;
      }
    }
    let cred: StoredCredential;
    try {
      ({ cred } = await obtainCredential({ dataDir, panel: opts.panel, token: opts.token, log, signal: stop.signal }));
    } catch (err) {
      if (stop.signal.aborted) return 0;
      if (err instanceof EnrollmentRefusedError) {
        log.error('enrolment refused', { status: err.status, message: err.reason });
        stderr(`error: the controller refused the enrolment: ${err.reason}`);
        return 2;
      }
      if (err instanceof AgentConfigError) {
        stderr(`error: ${err.message}`);
        return 2;
      }
      throw err;
    }
    const a = new Agent({
      panel: cred.panel,
      credential: cred.credential,
      nodeName: cred.nodeName,
      dataDir,
      docker: opts.docker,
      log,
      scopeLabels: opts.scopeLabels,
      namePrefix: opts.namePrefix,
      connection: opts.connection,
    });
    agent = a;

    let reenrolled = false;
    const result = new Promise<number>((resolve) => {
      stop.signal.addEventListener('abort', () => resolve(0), { once: true });
      a.on('rejected', ({ status, message, reason }) => {
        if (reason !== 'credential') {
          log.error(`the controller refused this agent: ${message}`, { status, reason });
          stderr(`error: the controller refused this agent: ${message}${reason === 'version' ? ' (upgrade the agent to the controller\'s version)' : ' (stop the other agent using this node\'s data dir or credential)'}`);
          resolve(2);
          return;
        }
        const canReenrol = opts.token && !reenrolled && tokenHash(opts.token) !== cred.tokenSha256;
        if (!canReenrol) {
          const hint = opts.token && tokenHash(opts.token) === cred.tokenSha256 ? ' (the --token given is the one this credential came from: create a new deployment token)' : ' (give a new deployment token with --token to enrol again)';
          log.error(`node credential rejected: ${message}`, { status });
          stderr(`error: node credential rejected: ${message}${hint}`);
          resolve(2);
          return;
        }
        reenrolled = true;
        log.warn(`node credential rejected: ${message}; enrolling again with the --token given`, { status });
        enrollAndStore({ dataDir, panel: cred.panel, token: opts.token!, signal: stop.signal }, log).then(
          (fresh) => {
            if (fresh.nodeName !== cred.nodeName) {
              // Its containers carry the node's name (agent/runtime/scope.ts): start again as the new node.
              log.warn('enrolled again as another node; restarting the agent is needed', { from: cred.nodeName, to: fresh.nodeName });
              stderr(`error: the new token enrolled this agent as node ${fresh.nodeName} (was ${cred.nodeName}); start the agent again`);
              return resolve(1);
            }
            cred = fresh;
            a.setCredential(fresh.credential);
          },
          (err: unknown) => {
            if (stop.signal.aborted) return resolve(0);
            const reason = err instanceof EnrollmentRefusedError ? err.reason : (err as Error).message;
            log.error('re-enrolment failed', { err });
            stderr(`error: node credential rejected: ${message}; enrolling again with --token failed: ${reason}`);
            resolve(err instanceof EnrollmentRefusedError ? 2 : 1);
          },
        );
      });
    });
    const started = a.start().then(() => !stop.signal.aborted);
    started.catch(() => {}); // when `result` wins the race, a late start failure is moot
    if (await Promise.race([started, result.then(() => false)])) opts.onStarted?.(a);
    return await result;
  } catch (err) {
    log.error('agent failed', { err });
    stderr(`error: ${(err as Error).message}`);
    return 1;
  } finally {
    await agent?.stop();
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
