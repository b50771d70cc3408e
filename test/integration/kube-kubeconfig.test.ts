// `gantry kubeconfig` prints a kubeconfig the real kubectl uses unchanged: the HTTPS listener with
// Gantry's CA, the caller's token (or, with --api-key, a new API key that outlives the login).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { kubeconfigCommand } from '../../bin/commands/kubeconfig.ts';
import { signInAdmin } from '../helpers/api.ts';
import { KUBECTLS } from '../helpers/kube.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('gantry kubeconfig', () => {
  let g: Embedded;
  let dir: string;
  let token: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gantry-kubeconfig-'));
    g = await startEmbedded({ dataDir: path.join(dir, 'data'), port: 0, tlsPort: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples') });
    token = (await signInAdmin(g.api)).token;
  });
  afterAll(async () => {
    await g?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const generate = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { GANTRY_TOKEN: token, GANTRY_CONFIG_DIR: path.join(dir, 'cfg'), HOME: dir };
    const code = await kubeconfigCommand(['--server', g.url, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, env);
    return { code, text: out.join('\n'), err: err.join('\n') };
  };
  const kubectl = (bin: string, kubeconfig: string, args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(bin, args, { env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: kubeconfig } }, (e, stdout, stderr) => resolve({ code: e ? 1 : 0, stdout, stderr })));

  it('points kubectl at the HTTPS listener with the CA and the caller\'s token', async () => {
    const { code, text, err } = await generate([]);
    expect(code).toBe(0);
    expect(err).toMatch(/expires within the hour; use --api-key/);
    const cfg = parse(text);
    expect(cfg.clusters[0].cluster.server).toBe(`${g.tls!.url}/k8s`);
    expect(Buffer.from(cfg.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(g.tls!.ca);
    expect(cfg.users[0]).toMatchObject({ name: 'admin@gantry', user: { token } });
    expect(cfg.contexts[0].context).toMatchObject({ cluster: 'gantry', namespace: 'default' });
    const file = path.join(dir, 'session.kubeconfig');
    await writeFile(file, text);
    for (const bin of KUBECTLS) {
      const r = await kubectl(bin, file, ['get', 'servertemplates', '-o', 'name']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('servertemplate.gantry.dev/testgame');
    }
  });

  it('with --api-key writes a new API key that works on its own', async () => {
    const { code, text, err } = await generate(['--api-key', '--name', 'kubectl-test']);
    expect(code).toBe(0);
    expect(err).toMatch(/created API key gak_/);
    const key = parse(text).users[0].user.token as string;
    expect(key).toMatch(/^gak_/);
    const file = path.join(dir, 'key.kubeconfig');
    await writeFile(file, text);
    const r = await kubectl(KUBECTLS[0]!, file, ['get', 'ns']);
    expect(r.stdout).toMatch(/^NAME\s+STATUS\s+AGE\ndefault\s+Active/);
    // A refused login fails here, before kubectl would.
    token = 'not-a-token';
    await expect(generate([])).rejects.toThrow(/refused/);
  });
});
