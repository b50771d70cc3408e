// The local agent of `gantry up`: a child process speaking the same protocol as a remote agent,
// enrolled automatically into a GameNode for this machine and restarted if it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ResourceStore } from '../../controller/store/types.ts';
import { isStoreError } from '../../controller/store/errors.ts';
import type { NodeEnrollment } from '../../controller/nodes/enrollment.ts';
import { CREDENTIAL_FILE } from '../../agent/credentials.ts';
import { API_VERSION } from '../../crds/resource.ts';
import type { Logger } from '../../lib/log.ts';
import { compiledPath } from '../../lib/package-files.ts';

// The agent always runs the compiled CLI, also when `gantry up` itself runs from the sources (tests).
const GANTRY_CLI = compiledPath('bin/cli.ts');
const exists = (file: string): Promise<boolean> => access(file).then(() => true, () => false);
export const LOCAL_NODE_LABEL = 'gantry.dev/local';

/** This machine's hostname as a GameNode name (DNS-1123), or "local". */
export function localNodeName(hostname = os.hostname()): string {
  const name = hostname.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 63);
  return name || 'local';
}

export interface LocalAgentOptions {
  panelUrl: string;
  /** The agent's own data dir (credential, servers' data). */
  dataDir: string;
  nodeName: string;
  store: ResourceStore;
  nodes: NodeEnrollment;
  log: Logger;
}

export class LocalAgent {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  /** The agent exited 2: it refused its credential (revoked, node re-created), so enrol it again. */
  private needsToken = false;

  constructor(private readonly opts: LocalAgentOptions) {}

  async start(): Promise<void> {
    await this.ensureNode();
    await this.spawn();
  }

  private async ensureNode(): Promise<void> {
    try {
      await this.opts.store.create({
        apiVersion: API_VERSION,
        kind: 'GameNode',
        metadata: { name: this.opts.nodeName, labels: { [LOCAL_NODE_LABEL]: 'true' } },
        spec: { displayName: `${os.hostname()} (local)`, address: '127.0.0.1' },
      });
      this.opts.log.info('created the GameNode for this machine', { node: this.opts.nodeName });
    } catch (err) {
      if (!isStoreError(err, 'AlreadyExists')) throw err;
    }
  }

  private hasCredential(): Promise<boolean> {
    return exists(path.join(this.opts.dataDir, CREDENTIAL_FILE));
  }

  private async spawn(): Promise<void> {
    if (this.stopping) return;
    if (!(await exists(GANTRY_CLI))) throw new Error(`the compiled CLI ${GANTRY_CLI} is missing: run \`npm run build\``);
    const env: NodeJS.ProcessEnv = { ...process.env };
    // A fresh token only when needed: issuing one revokes the node's current credential.
    if (this.needsToken || !(await this.hasCredential())) {
      this.needsToken = false;
      const issued = await this.opts.nodes.issueDeploymentToken(this.opts.nodeName, 10 * 60_000);
      env.GANTRY_TOKEN_DEPLOY = issued.token; // through the environment: argv is visible in `ps`
    }
    env.GANTRY_AGENT_LIFELINE = 'stdin';
    const child = spawn(process.execPath, [GANTRY_CLI, 'agent', '--panel', this.opts.panelUrl, '--data-dir', this.opts.dataDir], {
      env,
      stdio: ['pipe', 'inherit', 'inherit'], // stdin is the lifeline: never written, closed when we die
    });
    this.child = child;
    this.opts.log.info('local agent started', { pid: child.pid, node: this.opts.nodeName, dataDir: this.opts.dataDir });
    const startedAt = Date.now();
    child.on('exit', (code, signal) => {
      this.child = undefined;
      if (this.stopping) return;
      // A run that lasted a while resets the backoff; exit 2 (credential refused) re-enrols next time.
      this.failures = Date.now() - startedAt > 60_000 ? 1 : this.failures + 1;
      this.needsToken = code === 2;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
      this.opts.log.warn('local agent exited; restarting', { code, signal, inMs: delay });
      this.restartTimer = setTimeout(() => void this.spawn().catch((err) => this.opts.log.error('local agent restart failed', { err })), delay);
    });
  }

  /** The agent's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the agent process; its containers keep running (the next start adopts them). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.opts.log.warn('local agent did not stop within 10 s of SIGTERM; killing it', { pid: child.pid });
      child.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }
}
