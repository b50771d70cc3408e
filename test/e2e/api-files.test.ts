// The file manager over HTTP against a running Gantry (embedded: controller, API, a local agent child
// process, real Docker, the test image): list, a streamed 50 MB multipart upload (memory of this
// process sampled during it), a byte-for-byte streamed download, create / contents / write / rename /
// copy / chmod / delete / compress / decompress; every confinement attack through the API (../,
// %2e%2e, NUL, absolute, a symlink made on disk pointing out, an archive with ../ entries) → 4xx and an
// audit entry; another user's server → 404; a subuser without file.write → 403; suspended → 423;
// a download token; the upload limit (declared and streamed) → 413 with nothing left behind; node offline → 503.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode } from '../../crds/types.ts';
import { signIn, signInAdmin, type SignedIn } from '../helpers/api.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'e2e-api-files';
const MiB = 1024 * 1024;
const UPLOAD_LIMIT = 64 * MiB;
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A deterministic stream of `size` bytes (1 MiB random block, each copy stamped with its index) and its sha256. */
function payload(size: number): { stream: Readable; sha256: Promise<string> } {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  let resolveHash!: (h: string) => void;
  const sha256 = new Promise<string>((r) => (resolveHash = r));
  const stream = Readable.from(
    (function* () {
      for (let off = 0, i = 0; off < size; off += MiB, i++) {
        const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - off)));
        if (chunk.length >= 4) chunk.writeUInt32BE(i, 0);
        hash.update(chunk);
        yield chunk;
      }
      resolveHash(hash.digest('hex'));
    })(),
    { objectMode: false },
  );
  return { stream, sha256 };
}

interface Answer {
  status: number;
  body: any;
  headers: http.IncomingHttpHeaders;
}

/** A multipart upload streamed with node:http (fields path then file); chunked when no length is given. */
function multipart(url: string, headers: Record<string, string>, dir: string, filename: string, source: Readable | Buffer, size: number | undefined): Promise<Answer> {
  const boundary = `----gantry-${randomBytes(8).toString('hex')}`;
  const pre = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${dir}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const post = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, ...(size !== undefined ? { 'content-length': String(pre.length + size + post.length) } : {}) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined, headers: res.headers });
      });
    });
    // The server may answer (413) and close before everything was sent: the answer is what counts.
    req.on('error', (err) => {
      if (!answered) setTimeout(() => (answered ? undefined : reject(err)), 500);
    });
    req.write(pre);
    const body = Buffer.isBuffer(source) ? Readable.from([source]) : source;
    body.on('end', () => req.end(post));
    body.on('error', (e) => req.destroy(e));
    body.pipe(req, { end: false });
  });
}

describe('file manager over HTTP (real agent, real Docker)', () => {
  let gantry: Embedded;
  let dataDir: string;
  let admin: SignedIn;
  let alice: SignedIn;
  let bob: SignedIn;
  let reader: SignedIn;
  const SERVER = 'files-one';
  const OTHER = 'files-other';
  const serverData = (name = SERVER) => path.join(dataDir, 'agent', 'servers', 'default', name);

  const call = async (method: string, p: string, body?: unknown, who: SignedIn | null = alice, extraHeaders: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(gantry.url + p, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(who ? who.headers : {}), ...extraHeaders },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: Object.fromEntries(res.headers) as http.IncomingHttpHeaders };
  };
  const f = (p: string, server = SERVER) => `/api/servers/${server}/files${p}`;
  const q = (v: string) => encodeURIComponent(v);
  const audits = (action: string) => gantry.api.audit.list({ action, limit: 500 });

  beforeAll(async () => {
    await run('bash', [path.join(ROOT, 'scripts/docker-engine.sh'), 'ensure']);
    await run('bash', [path.join(ROOT, 'test/images/build.sh')]);
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-e2e-files-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE }, apiLimits: { uploadMaxBytes: UPLOAD_LIMIT, userPerMinute: 100_000 } });
    await until('the local node Online', async () => {
      const n = (await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode;
      return n.status?.phase === 'Online' && n.status.allocatable?.memoryMb;
    });
    admin = await signInAdmin(gantry.api);
    alice = await signIn(gantry.api, 'alice');
    bob = await signIn(gantry.api, 'bob');
    reader = await signIn(gantry.api, 'reader');
    for (const [name, owner] of [[SERVER, alice], [OTHER, bob]] as const) {
      const created = await call('POST', '/api/servers', { name, templateId: 'testgame', nodeId: NODE, ownerId: owner.userId, allocatedMemoryMb: 128, allocatedCpuCores: 0.5, allocatedDiskMb: 2048 }, admin);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect((await call('POST', `/api/servers/${name}/install`, undefined, admin)).status).toBe(200);
    }
    for (const name of [SERVER, OTHER]) {
      await until(`${name} installed`, async () => {
        const s = (await call('GET', `/api/servers/${name}`, undefined, admin)).body.data;
        return s.status === 'stopped' && s.conditions.some((c: { type: string; status: string }) => c.type === 'Installed' && c.status === 'True');
      }, 120_000);
    }
    await gantry.api.accounts.setServerGrant('default', SERVER, reader.userId, ['server.read', 'file.read']);
  }, 300_000);

  afterAll(async () => {
    await gantry?.stop();
    for (const name of [SERVER, OTHER]) {
      const ps = await run('docker', ['ps', '-aq', '--filter', `label=gantry.dev/server-name=${name}`]).catch(() => ({ stdout: '' }));
      for (const id of ps.stdout.split('\n').filter(Boolean)) await run('docker', ['rm', '-f', id]).catch(() => undefined);
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the data directory in Catalyst\'s shape', async () => {
    const r = await call('GET', f('?path=/'));
    expect(r.status).toBe(200);
    const installed = r.body.data.find((e: { name: string }) => e.name === 'installed');
    expect(installed).toMatchObject({ name: 'installed', isDirectory: false, isFile: true, isSymlink: false, path: '/installed' });
    expect(installed.size).toBeGreaterThan(0);
    expect(new Date(installed.modified).getTime()).toBeGreaterThan(0);
    expect(installed.mode).toMatch(/^0[0-7]{3}$/);
  });

  it('streams a 50 MB multipart upload with flat memory, then downloads it byte for byte', async () => {
    const size = 50 * MiB;
    // A first, smaller upload settles the one-time growth (heap, allocator arenas, socket buffers).
    expect((await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/big', 'warmup.bin', payload(8 * MiB).stream, 8 * MiB)).status).toBe(200);
    const { stream, sha256 } = payload(size);
    // Garbage (each 64 KiB frame is a fresh Buffer) would make RSS follow the GC's mood; collecting
    // every 100 ms measures what the transfer holds.
    gc();
    const before = process.memoryUsage().rss;
    const buffersBefore = process.memoryUsage().arrayBuffers;
    let peak = before;
    let rawPeak = before;
    let buffersPeak = buffersBefore;
    const sampler = setInterval(() => {
      rawPeak = Math.max(rawPeak, process.memoryUsage().rss);
      gc();
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      buffersPeak = Math.max(buffersPeak, m.arrayBuffers);
    }, 100);
    const up = await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/big', 'big.bin', stream, size);
    clearInterval(sampler);
    gc();
    const after = process.memoryUsage().rss;
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({ success: true, message: 'File uploaded successfully', data: [{ path: '/big/big.bin', size }] });
    const growth = (peak - before) / MiB;
    console.log(`[api-files] 50 MB upload: API process RSS before ${(before / MiB).toFixed(1)} MB, peak after GC ${(peak / MiB).toFixed(1)} MB (+${growth.toFixed(1)} MB), peak without forcing GC +${((rawPeak - before) / MiB).toFixed(1)} MB, after ${(after / MiB).toFixed(1)} MB (+${((after - before) / MiB).toFixed(1)} MB)`);
    // A buffered upload would hold the 50 MB (twice, as parseBody does); streaming holds a window
    // (the hub's 4 MiB, busboy's and the sockets' buffers). RSS also moves with the allocator, so the
    // bound on it is loose. The live Buffers (arrayBuffers) count the test's own client too and move with
    // GC timing (16-24 MB seen), so their bound is half the file: buffering the upload would exceed it.
    console.log(`[api-files] live Buffers: before ${(buffersBefore / MiB).toFixed(1)} MB, peak ${(buffersPeak / MiB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(40);
    expect((buffersPeak - buffersBefore) / MiB).toBeLessThan(25);
    const expected = await sha256;
    const onDisk = createHash('sha256').update(await readFile(path.join(serverData(), 'big/big.bin'))).digest('hex');
    expect(onDisk).toBe(expected);

    const res = await fetch(`${gantry.url}${f(`/download?path=${q('/big/big.bin')}`)}`, { headers: alice.headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(size));
    expect(res.headers.get('content-disposition')).toContain('attachment; filename="big.bin"');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const h = createHash('sha256');
    let got = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(chunk);
      got += chunk.length;
    }
    expect(got).toBe(size);
    expect(h.digest('hex')).toBe(expected);
  }, 180_000);

  it('refuses uploads over the limit (declared or streamed) and leaves nothing behind', async () => {
    const declared = await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/', 'too-big.bin', Buffer.alloc(UPLOAD_LIMIT + 2 * MiB), UPLOAD_LIMIT + 2 * MiB);
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ statusCode: 413, reason: 'too_large' });
    const streamed = await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/', 'too-big.bin', payload(UPLOAD_LIMIT + MiB).stream, undefined);
    expect(streamed.status).toBe(413);
    expect(streamed.body.statusCode).toBe(413);
    const names = await readdir(serverData());
    expect(names.filter((n) => n.includes('too-big') || n.startsWith('.gantry-tmp-'))).toEqual([]);
    const audit = (await audits('file.write')).filter((a) => a.status === 413);
    expect(audit.length).toBeGreaterThanOrEqual(2);
    // Not multipart at all.
    expect((await call('POST', f('/upload'), { path: '/' })).status).toBe(415);
  }, 120_000);

  it('create, contents, write, rename, copy, chmod, delete, compress, decompress', async () => {
    expect((await call('POST', f('/create'), { path: '/configs', isDirectory: true })).body).toMatchObject({ success: true, data: { isDirectory: true } });
    expect((await call('POST', f('/create'), { path: '/configs/new.yml', content: '# Configuration\nkey: value\n' })).status).toBe(200);
    expect((await call('POST', f('/create'), { path: '/configs/new.yml', content: 'x' })).status).toBe(409);
    expect((await call('GET', f(`/contents?path=${q('/configs/new.yml')}`))).body.data).toMatchObject({ content: '# Configuration\nkey: value\n' });
    expect((await call('PUT', f('/write'), { path: '/configs/new.yml', content: 'key: changed\n' })).status).toBe(200);
    expect((await call('POST', f('/write'), { path: '/configs/deep/other.yml', content: 'a: 1\n' })).status).toBe(200);
    expect(await readFile(path.join(serverData(), 'configs/new.yml'), 'utf8')).toBe('key: changed\n');

    expect((await call('POST', f('/rename'), { from: '/configs/new.yml', to: '/configs/renamed.yml' })).status).toBe(200);
    expect(existsSync(path.join(serverData(), 'configs/new.yml'))).toBe(false);
    expect((await call('POST', f('/copy'), { from: '/configs/renamed.yml', to: '/configs/copy.yml' })).status).toBe(200);
    expect(await readFile(path.join(serverData(), 'configs/copy.yml'), 'utf8')).toBe('key: changed\n');
    expect((await call('POST', f('/chmod'), { path: '/configs/copy.yml', mode: '600' })).status).toBe(200);
    expect((await stat(path.join(serverData(), 'configs/copy.yml'))).mode & 0o777).toBe(0o600);
    expect((await call('POST', f('/chmod'), { path: '/configs/copy.yml', mode: 'rwx' })).status).toBe(400);

    const comp = await call('POST', f('/compress'), { paths: ['/configs'], archiveName: 'configs.tar.gz' });
    expect(comp.body).toMatchObject({ success: true, archivePath: '/configs.tar.gz' });
    expect((await call('POST', f('/decompress'), { archivePath: '/configs.tar.gz', targetPath: '/restored' })).status).toBe(200);
    expect(await readFile(path.join(serverData(), 'restored/configs/renamed.yml'), 'utf8')).toBe('key: changed\n');
    expect(await readFile(path.join(serverData(), 'restored/configs/deep/other.yml'), 'utf8')).toBe('a: 1\n');

    expect((await call('DELETE', f(`?path=${q('/configs/copy.yml')}`))).body).toEqual({ success: true, message: 'File deleted successfully' });
    const many = await call('POST', f('/delete'), { paths: ['/restored', '/configs.tar.gz', '/never-existed'] });
    expect(many.status).toBe(200);
    expect(many.body.data.map((r: { deleted: boolean }) => r.deleted)).toEqual([true, true, false]);
    expect(existsSync(path.join(serverData(), 'restored'))).toBe(false);
    const audit = await audits('file.write');
    expect(audit.some((a) => a.status === 200 && a.metadata.from === '/configs/new.yml' && a.metadata.to === '/configs/renamed.yml')).toBe(true);
  });

  it('refuses every confinement attack with a 4xx, an unchanged outside world and an audit entry', async () => {
    const outside = path.join(dataDir, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret.txt'), 'secret outside\n');
    // Links made directly on disk inside the data dir, pointing out.
    await symlink(outside, path.join(serverData(), 'evil-dir'));
    await symlink(path.join(outside, 'secret.txt'), path.join(serverData(), 'evil-file'));

    const cases: [string, string, unknown, number][] = [
      ['GET', f(`?path=${q('../../')}`), undefined, 403],
      ['GET', f(`?path=%2e%2e%2f%2e%2e`), undefined, 403],
      ['GET', f(`/contents?path=${q('/../../../etc/passwd')}`), undefined, 403],
      ['GET', f(`/contents?path=a%00b`), undefined, 400],
      ['GET', f(`/contents?path=${q('/etc/passwd')}`), undefined, 404],
      ['GET', f(`/download?path=${q('../outside/secret.txt')}`), undefined, 403],
      ['GET', f(`?path=${q('/evil-dir')}`), undefined, 403],
      ['GET', f(`/contents?path=${q('/evil-file')}`), undefined, 403],
      ['GET', f(`/download?path=${q('/evil-dir/secret.txt')}`), undefined, 403],
      ['POST', f('/write'), { path: '/evil-file', content: 'overwritten' }, 403],
      ['POST', f('/write'), { path: '/evil-dir/secret.txt', content: 'overwritten' }, 403],
      ['POST', f('/create'), { path: '/evil-dir/new.txt', content: 'x' }, 403],
      // chmod never follows a link: the link itself is refused as the wrong kind of path.
      ['POST', f('/chmod'), { path: '/evil-file', mode: '777' }, 400],
      ['POST', f('/chmod'), { path: '/evil-dir/secret.txt', mode: '777' }, 403],
      ['DELETE', f(`?path=${q('/evil-dir/secret.txt')}`), undefined, 403],
      ['POST', f('/delete'), { paths: ['/evil-dir/secret.txt'] }, 403],
      ['POST', f('/rename'), { from: '/installed', to: '../installed' }, 403],
      ['POST', f('/write'), { path: 'x\u0000y', content: 'nul' }, 400],
    ];
    const wrong: string[] = [];
    for (const [method, p, body, want] of cases) {
      const r = await call(method, p, body);
      if (r.status !== want || !r.body?.message || typeof r.body.reason !== 'string') wrong.push(`${method} ${p} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
    }
    expect(wrong).toEqual([]);
    // Copying the link copies the link (still refused when read), never the outside file's bytes.
    const copy = await call('POST', f('/copy'), { from: '/evil-file', to: '/copied' });
    if (copy.status === 200) {
      expect((await lstat(path.join(serverData(), 'copied'))).isSymbolicLink()).toBe(true);
      expect((await call('GET', f(`/contents?path=${q('/copied')}`))).status).toBe(403);
    } else expect(copy.status).toBe(403);
    // An archive of the link leaves the link out.
    const comp = await call('POST', f('/compress'), { paths: ['/evil-dir'], archiveName: '/leak.tar.gz' });
    if (comp.status === 200) {
      expect(comp.body.data.entries).toBe(0);
      expect(comp.body.data.skipped.map((x: { path: string }) => x.path)).toEqual(['/evil-dir']);
    } else expect(comp.status).toBe(403);
    expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret outside\n');
    expect((await stat(path.join(outside, 'secret.txt'))).mode & 0o777).not.toBe(0o777);
    expect(existsSync(path.join(outside, 'new.txt'))).toBe(false);

    // Audit: reads as file.refused, writes under their permission with the refusal noted.
    const refusedReads = (await audits('file.refused')).filter((a) => a.resourceId === SERVER);
    expect(refusedReads.length).toBeGreaterThanOrEqual(7);
    expect(refusedReads.every((a) => a.status >= 400 && a.status < 500 && a.userId === alice.userId)).toBe(true);
    expect(refusedReads.map((a) => a.metadata.code)).toContain('symlink_escape');
    const confinement = ['path_escape', 'symlink_escape', 'invalid_path', 'hardlink'];
    const refusedWrites = [...(await audits('file.write')), ...(await audits('file.delete'))].filter((a) => a.status >= 400 && a.status < 500 && confinement.includes(a.metadata.refused as string));
    expect(refusedWrites.length).toBeGreaterThanOrEqual(9);

    // An archive whose entries climb out: refused whole, nothing written anywhere.
    const work = await mkdtemp(path.join(tmpdir(), 'gantry-evil-tar-'));
    await run('python3', ['-c', `import tarfile,io
t=tarfile.open('${work}/evil.tar.gz','w:gz')
for n in ['ok.txt','../../escaped.txt']:
  d=b'pwned\\n'; i=tarfile.TarInfo(n); i.size=len(d); t.addfile(i,io.BytesIO(d))
t.close()`]);
    const buf = await readFile(path.join(work, 'evil.tar.gz'));
    expect((await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/', 'evil.tar.gz', buf, buf.length)).status).toBe(200);
    const dec = await call('POST', f('/decompress'), { archivePath: '/evil.tar.gz', targetPath: '/x' });
    expect(dec.status).toBe(403);
    expect(dec.body.reason).toBe('path_escape');
    expect(existsSync(path.join(serverData(), '..', 'escaped.txt'))).toBe(false);
    expect(existsSync(path.join(serverData(), 'x', 'ok.txt'))).toBe(false);
    expect((await audits('file.write')).some((a) => a.status === 403 && a.metadata.archivePath === '/evil.tar.gz' && a.metadata.refused === 'path_escape')).toBe(true);
    await rm(work, { recursive: true, force: true });
    // A link may be removed (deleting it removes the link, never its target).
    expect((await call('DELETE', f(`?path=${q('/evil-file')}`))).status).toBe(200);
    expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret outside\n');
    expect((await lstat(path.join(serverData(), 'evil-dir'))).isSymbolicLink()).toBe(true);
  });

  it('authorises: another user\'s server 404, a read-only subuser 403 on writes, suspended 423', async () => {
    expect((await call('GET', f('?path=/', OTHER))).status).toBe(404);
    expect((await call('POST', f('/write', OTHER), { path: '/x', content: 'x' })).status).toBe(404);
    expect((await call('GET', f('?path=/'), undefined, reader)).status).toBe(200);
    expect((await call('POST', f('/write'), { path: '/x', content: 'x' }, reader)).status).toBe(403);
    expect((await multipart(`${gantry.url}${f('/upload')}`, reader.headers, '/', 'x.bin', Buffer.from('x'), 1)).status).toBe(403);
    expect((await call('DELETE', f(`?path=${q('/installed')}`), undefined, reader)).status).toBe(403);
    expect(existsSync(path.join(serverData(), 'x'))).toBe(false);

    expect((await call('POST', `/api/servers/${SERVER}/suspend`, { reason: 'unpaid' }, admin)).status).toBe(200);
    try {
      const r = await call('GET', f('?path=/'));
      expect(r.status).toBe(423);
      expect(r.body.message).toContain('unpaid');
      expect((await call('POST', f('/write'), { path: '/y', content: 'y' })).status).toBe(423);
      expect((await multipart(`${gantry.url}${f('/upload')}`, alice.headers, '/', 'y.bin', Buffer.from('y'), 1)).status).toBe(423);
    } finally {
      expect((await call('POST', `/api/servers/${SERVER}/unsuspend`, undefined, admin)).status).toBe(200);
    }
  });

  it('opens a download link with a download token for that file only', async () => {
    await writeFile(path.join(serverData(), 'link.txt'), 'via token\n');
    const tok = await call('POST', '/api/auth/tokens', { purpose: 'download', serverId: SERVER, path: '/link.txt' });
    expect(tok.status).toBe(200);
    const token = tok.body.data.token as string;
    const good = await call('GET', f(`/download?path=${q('/link.txt')}&token=${q(token)}`), undefined, null);
    expect(good.status).toBe(200);
    expect(good.body).toBe('via token\n');
    expect((await call('GET', f(`/download?path=${q('/installed')}&token=${q(token)}`), undefined, null)).status).toBe(403);
    expect((await call('GET', f(`/download?path=${q('/link.txt')}&token=garbage`), undefined, null)).status).toBe(401);
    // A download token is no access token.
    expect((await call('GET', f('?path=/'), undefined, null, { authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it('answers 503 naming the node when its agent is offline', async () => {
    await gantry.localAgent!.stop();
    await until('the hub sees the agent gone', () => !gantry.hub.isConnected(NODE));
    const r = await call('GET', f('?path=/'));
    expect(r.status).toBe(503);
    expect(r.body.message).toContain(NODE);
    expect(r.body.reason).toBe('node_offline');
  });
});
