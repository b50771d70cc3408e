// A kubectl user's day against `gantry up` (embedded, its local agent on the real Docker engine),
// with the real kubectl (GANTRY_KUBECTL picks the binary: the machine's, or Debian's 1.20): apply
// (created / unchanged / configured), get with the printer columns and -o wide, wait, describe with
// Events, edit, patch, label, diff, get -w, explain, delete that waits for the cleanup finalizer and
// leaves no container; and the refusals with kubectl's usual messages.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, signInAdmin } from '../helpers/api.ts';
import { startLocalGantry, type LocalGantry } from '../helpers/embedded.ts';
import { KUBECTLS, kubectlFor, kubectlMinor, type Kubectl } from '../helpers/kube.ts';
import { until } from '../helpers/wait.ts';

const run = promisify(execFile);
const SERVER = 'kube-e2e-mc';
const manifest = (displayName: string) => `apiVersion: gantry.dev/v1alpha1
kind: GameServer
metadata:
  name: ${SERVER}
  labels:
    app: kube-e2e
spec:
  templateRef: testgame
  displayName: ${displayName}
  state: Running
  resources: {memoryMb: 64, cpuCores: 0.5, diskMb: 50}
`;

describe.each(KUBECTLS)('%s against gantry up', (bin) => {
  let g: LocalGantry;
  let k: Kubectl;
  let minor: number;
  let file: string;
  beforeAll(async () => {
    g = await startLocalGantry('gantry-kubectl-', 'kube-e2e-node', { tlsPort: 0 });
    const admin = await signInAdmin(g.gantry.api);
    k = await kubectlFor(g.gantry.tls!, admin.token, 'admin', bin);
    minor = await kubectlMinor(bin);
    file = path.join(k.home, 'server.yaml');
  });
  afterAll(async () => {
    await k?.close();
    await g?.stop([SERVER]);
  });

  const ok = async (args: string[], opts: Parameters<Kubectl['run']>[1] = {}) => {
    const r = await k.run(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  it('applies: created, unchanged, configured', async () => {
    await writeFile(file, manifest('Alpha'));
    expect(await ok(['apply', '-f', file])).toBe(`gameserver.gantry.dev/${SERVER} created\n`);
    expect(await ok(['apply', '-f', file])).toBe(`gameserver.gantry.dev/${SERVER} unchanged\n`);
    await writeFile(file, manifest('Alpha 2'));
    expect(await ok(['apply', '-f', file])).toBe(`gameserver.gantry.dev/${SERVER} configured\n`);
    expect(await ok(['get', 'gs', SERVER, '-o', 'jsonpath={.spec.displayName}'])).toBe('Alpha 2');
  });

  it('waits for Ready, then gets with the printer columns and describes with Events', async () => {
    expect(await ok(['wait', '--for=condition=Ready', `gs/${SERVER}`, '--timeout=120s'], { timeoutMs: 150_000 })).toMatch(/condition met/);
    const table = await ok(['get', 'gs']);
    const [header, row] = table.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'NODE', 'TEMPLATE', 'STATE', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 5)).toEqual([SERVER, 'running', 'kube-e2e-node', 'testgame', 'Running']);
    const wide = (await ok(['get', 'gameservers', '-o', 'wide'])).split('\n')[0]!;
    expect(wide.split(/\s+/)).toEqual(['NAME', 'PHASE', 'NODE', 'TEMPLATE', 'STATE', 'AGE', 'ADDRESS', 'CRASHES', 'MESSAGE']);
    expect(await ok(['get', 'gantry', '-o', 'name'])).toContain(`gameserver.gantry.dev/${SERVER}`);
    const described = await ok(['describe', 'gs', SERVER]);
    expect(described).toMatch(/^Name:\s+kube-e2e-mc$/m);
    expect(described).toMatch(/Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message/);
    expect(described).toMatch(/Normal\s+Started\s+.*gantry\s+container started/);
    expect(await ok(['get', 'events', '--field-selector', `involvedObject.name=${SERVER}`])).toMatch(/gameserver\/kube-e2e-mc/);
  });

  it('patches, labels, edits, diffs and watches', async () => {
    const watch = k.spawn(['get', 'gs', SERVER, '-w']);
    try {
      await until('kubectl get -w to print the server', () => watch.output().includes(SERVER));
      expect(await ok(['patch', 'gs', SERVER, '--type=merge', '-p', '{"spec":{"displayName":"Merged"}}'])).toMatch(/patched/);
      expect(await ok(['patch', 'gs', SERVER, '--type=json', '-p', '[{"op":"replace","path":"/spec/displayName","value":"Jsoned"}]'])).toMatch(/patched/);
      expect(await ok(['label', 'gs', SERVER, 'tier=gold'])).toMatch(/labeled/);
      expect(await ok(['get', 'gs', '-l', 'tier=gold', '-o', 'name'])).toBe(`gameserver.gantry.dev/${SERVER}\n`);
      // The watch printed a row per change after its first.
      await until('the watch to print the changes', () => watch.output().split('\n').filter((l) => l.startsWith(SERVER)).length >= 3);
    } finally {
      watch.stop();
    }
    const editor = path.join(k.home, 'editor.sh');
    await writeFile(editor, '#!/bin/sh\nsed -i "s/displayName: .*/displayName: Edited/" "$1"\n', { mode: 0o755 });
    expect(await ok(['edit', 'gs', SERVER], { env: { KUBE_EDITOR: editor } })).toMatch(/edited/);
    expect(await ok(['get', 'gs', SERVER, '-o', 'jsonpath={.spec.displayName}'])).toBe('Edited');

    // diff: the manifest says "Alpha 2", the server "Edited" → exit 1 with the change; after apply, nothing.
    const diff = await k.run(['diff', '-f', file]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/^-\s+displayName: Edited$/m);
    expect(diff.stdout).toMatch(/^\+\s+displayName: Alpha 2$/m);
    await ok(['apply', '-f', file]);
    expect((await k.run(['diff', '-f', file])).code).toBe(0);
  });

  it('explains fields from the CRD schema', async () => {
    const out = await ok(['explain', 'gameserver.spec.state']);
    expect(out).toMatch(/FIELD:\s+state\s+<string>/);
    expect(out).toContain('Desired state.');
  });

  it('manages templates (cluster-scoped) and lists servers in every namespace', async () => {
    const tmpl = path.join(k.home, 'template.yaml');
    const yaml = (await ok(['get', 'st', 'testgame', '-o', 'yaml'])).replace(/name: testgame/, 'name: kube-e2e-tmpl');
    await writeFile(tmpl, yaml);
    // Server-set metadata from the copy (uid, resourceVersion, …) is ignored on create, as by an apiserver.
    expect(await ok(['apply', '-f', tmpl])).toBe('servertemplate.gantry.dev/kube-e2e-tmpl created\n');
    expect((await ok(['get', 'servertemplates'])).split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'DISPLAY', 'IMAGE', 'AGE']);
    expect(await ok(['get', 'tmpl', 'kube-e2e-tmpl', '-o', 'name'])).toBe('servertemplate.gantry.dev/kube-e2e-tmpl\n');
    expect(await ok(['delete', '-f', tmpl])).toBe('servertemplate.gantry.dev "kube-e2e-tmpl" deleted\n');
    const all = (await ok(['get', 'gs', '-A'])).trim().split('\n');
    expect(all[0]!.split(/\s+/).slice(0, 2)).toEqual(['NAMESPACE', 'NAME']);
    expect(all.some((l) => l.startsWith('default') && l.includes(SERVER))).toBe(true);
  });

  it('refuses with kubectl\'s usual messages', async () => {
    const bad = path.join(k.home, 'bad.yaml');
    await writeFile(bad, manifest('x').replace(`name: ${SERVER}`, 'name: kube-e2e-bad').replace('state: Running', 'memroyMb: 5'));
    const invalid = await k.run(['apply', '-f', bad]);
    expect(invalid.code).not.toBe(0);
    // 1.20 validates against OpenAPI v2 itself; newer kubectl leaves it to the server (fieldValidation=Strict).
    expect(invalid.stderr).toMatch(minor <= 23 ? /ValidationError\(GameServer\.spec\): unknown field "memroyMb"/ : /The GameServer "kube-e2e-bad" is invalid: spec\.memroyMb: unknown field/);
    await writeFile(bad, manifest('x').replace(`name: ${SERVER}`, 'name: kube-e2e-bad').replace('state: Running', 'state: Exploded'));
    expect((await k.run(['apply', '-f', bad])).stderr).toMatch(/The GameServer "kube-e2e-bad" is invalid: spec\.state: must be one of Running, Stopped/);
    const smp = await k.run(['patch', 'gs', SERVER, '-p', '{"spec":{"displayName":"strategic"}}']);
    expect(smp.code).not.toBe(0);
    expect(smp.stderr).toMatch(/the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json/);
    expect((await k.run(['get', 'gs', 'kube-e2e-none'])).stderr).toMatch(/Error from server \(NotFound\): gameservers\.gantry\.dev "kube-e2e-none" not found/);

    // A subuser who may only read the server: sees it, may not stop it, sees no other server.
    const viewer = await signIn(g.gantry.api, 'kube-viewer');
    await g.gantry.api.accounts.setServerGrant('default', SERVER, viewer.userId, ['server.read']);
    const kv = await kubectlFor(g.gantry.tls!, viewer.token, 'kube-viewer', bin);
    try {
      expect((await kv.run(['get', 'gs', '-o', 'name'])).stdout).toBe(`gameserver.gantry.dev/${SERVER}\n`);
      const stop = await kv.run(['patch', 'gs', SERVER, '--type=merge', '-p', '{"spec":{"state":"Stopped"}}']);
      expect(stop.stderr).toMatch(/Error from server \(Forbidden\): gameservers\.gantry\.dev "kube-e2e-mc" is forbidden: User "kube-viewer" cannot patch resource "gameservers"/);
      expect((await kv.run(['delete', 'gs', SERVER])).stderr).toMatch(/\(Forbidden\)/);
      expect((await kv.run(['get', 'st'])).stderr).toMatch(/Error from server \(Forbidden\): servertemplates\.gantry\.dev is forbidden: User "kube-viewer" cannot list resource "servertemplates"/);
    } finally {
      await kv.close();
    }
  });

  it('deletes, waiting for the cleanup finalizer, and leaves no container', async () => {
    const uid = await ok(['get', 'gs', SERVER, '-o', 'jsonpath={.metadata.uid}']);
    const before = (await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${uid}`])).stdout.trim();
    expect(before).not.toBe('');
    expect(await ok(['delete', 'gs', SERVER], { timeoutMs: 150_000 })).toBe(`gameserver.gantry.dev "${SERVER}" deleted\n`);
    // kubectl delete returned after the object went (it waits): the finalizer removed the container first.
    expect((await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-uid=${uid}`])).stdout.trim()).toBe('');
    expect((await k.run(['get', 'gs', SERVER])).stderr).toMatch(/NotFound/);
  });
});
