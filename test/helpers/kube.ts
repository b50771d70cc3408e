// The real kubectl against a running Gantry: a kubeconfig (HTTPS listener, Gantry's CA, a bearer
// token) in a temp HOME, so discovery caches of parallel runs never mix. GANTRY_KUBECTL picks the
// binary (the suite runs with the machine's kubectl and with Debian's 1.20).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { kubeconfigFor } from '../../bin/commands/kubeconfig.ts';

export const KUBECTL = process.env.GANTRY_KUBECTL || 'kubectl';

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
export async function kubectlMinor(): Promise<number> {
  const out = await new Promise<string>((resolve) => execFile(KUBECTL, ['version', '--client', '-o', 'json'], (_e, stdout) => resolve(stdout)));
  try {
    return Number((JSON.parse(out) as { clientVersion: { minor: string } }).clientVersion.minor.replace(/\D+$/, ''));
  } catch {
    return 0;
  }
}

export async function kubectlFor(tls: { url: string; ca: string }, token: string, username = 'user'): Promise<Kubectl> {
  const home = await mkdtemp(path.join(tmpdir(), 'gantry-kubectl-'));
  const kubeconfig = path.join(home, 'config');
  await writeFile(kubeconfig, stringify(kubeconfigFor({ server: `${tls.url}/k8s`, token, username, certificateAuthorityData: Buffer.from(tls.ca).toString('base64') })), { mode: 0o600 });
  return {
    home,
    kubeconfig,
    run(args, opts = {}) {
      return new Promise((resolve) => {
        const child = execFile(
          KUBECTL,
          args,
          { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, ...opts.env }, timeout: opts.timeoutMs ?? 90_000, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
        );
        if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
        else child.stdin!.end();
      });
    },
    spawn(args) {
      const child = spawn(KUBECTL, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { output: () => out, stop: () => void child.kill('SIGTERM') };
    },
    close: () => rm(home, { recursive: true, force: true }),
  };
}
