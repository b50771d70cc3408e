// The real kubectl against a running Gantry: a kubeconfig (HTTPS listener, Gantry's CA, a bearer
// token) in a temp HOME, so discovery caches of parallel runs never mix. The suites run once per
// binary: GANTRY_KUBECTL (comma-separated) when set, else the machine's kubectl and Debian's 1.20,
// which scripts/setup.sh unpacks beside it (kubectl ≤ 1.23 validates and explains from OpenAPI v2).
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { kubeconfigFor } from '../../bin/commands/kubeconfig.ts';

const DEBIAN_120 = path.join(process.env.GANTRY_LOCK_DIR || '/tmp', 'gantry-kubectl-1.20/usr/bin/kubectl');

export const KUBECTLS: string[] = process.env.GANTRY_KUBECTL
  ? process.env.GANTRY_KUBECTL.split(',').filter(Boolean)
  : ['kubectl', ...(existsSync(DEBIAN_120) ? [DEBIAN_120] : [])];

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  /** Runs kubectl with the kubeconfig; never throws on a non-zero exit (the test reads code and stderr). */
  run(args: string[], opts?: { stdin?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** A long-running kubectl (get -w): its output so far, and stop(). */
  spawn(args: string[]): { output(): string; stop(): void };
  home: string;
  kubeconfig: string;
  close(): Promise<void>;
}

/** kubectl's minor version (20 for Debian's 1.20), for the few behaviours that differ. */
export async function kubectlMinor(bin: string): Promise<number> {
  const out = await new Promise<string>((resolve) => execFile(bin, ['version', '--client', '-o', 'json'], (_e, stdout) => resolve(stdout)));
  try {
    return Number((JSON.parse(out) as { clientVersion: { minor: string } }).clientVersion.minor.replace(/\D+$/, ''));
  } catch {
    return 0;
  }
}

export async function kubectlFor(tls: { url: string; ca: string }, token: string, username = 'user', bin = KUBECTLS[0]!): Promise<Kubectl> {
  const home = await mkdtemp(path.join(tmpdir(), 'gantry-kubectl-'));
  const kubeconfig = path.join(home, 'config');
  await writeFile(kubeconfig, stringify(kubeconfigFor({ server: `${tls.url}/k8s`, token, username, certificateAuthorityData: Buffer.from(tls.ca).toString('base64') })), { mode: 0o600 });
  return {
    home,
    kubeconfig,
    run(args, opts = {}) {
      return new Promise((resolve) => {
        const child = execFile(
          bin,
          args,
          { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, ...opts.env }, timeout: opts.timeoutMs ?? 90_000, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
        );
        if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
        else child.stdin!.end();
      });
    },
    spawn(args) {
      const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { output: () => out, stop: () => void child.kill('SIGTERM') };
    },
    close: () => rm(home, { recursive: true, force: true }),
  };
}
