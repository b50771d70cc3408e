// Archives (agent/files/archive.ts) against hostile input on real temp dirs: entries with `../` or
// absolute paths, symlinks out, a symlink then a write through it, existing links in the target,
// gzip bombs stopped by size, entry count and time; and a faithful round trip with node-tar.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Header, Pack, ReadEntry } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compress, decompress, extractArchive, extractTarGz, packServerFiles } from '../../agent/files/archive.ts';
import type { FileError } from '../../agent/files/errors.ts';
import { ServerFiles } from '../../agent/files/server-files.ts';

let base: string;
let root: string;
let outside: string;
let files: ServerFiles;

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'gantry-archive-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret'), 'top secret\n');
  files = await ServerFiles.open(root);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

type Spec = { path: string; type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO'; body?: Buffer | string; linkpath?: string; size?: number; mode?: number };

/** A tar built entry by entry with node-tar (preservePaths: hostile names are kept as given). */
async function makeTar(entries: Spec[], gzip = true): Promise<Buffer> {
  const pack = new Pack({ gzip: gzip ? {} : undefined, preservePaths: true, portable: true });
  const out: Buffer[] = [];
  pack.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : e.body ?? Buffer.alloc(0);
    const type = e.type ?? 'File';
    const entry = new ReadEntry(new Header({ path: e.path, type, size: type === 'File' ? body.length : 0, mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644), linkpath: e.linkpath, mtime: new Date(1_700_000_000_000) }));
    pack.add(entry);
    if (type === 'File' && body.length) entry.write(body);
    entry.end();
  }
  pack.end();
  await done;
  return Buffer.concat(out);
}

async function writeArchive(name: string, data: Buffer): Promise<string> {
  await writeFile(path.join(root, name), data);
  return `/${name}`;
}

async function refused(p: Promise<unknown>, code: string): Promise<FileError> {
  try {
    await p;
  } catch (err) {
    expect((err as Error).name).toBe('FileError');
    expect((err as FileError).code).toBe(code);
    return err as FileError;
  }
  throw new Error(`expected a ${code} refusal`);
}

const tree = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
};

describe('hostile archives are refused before anything is written', () => {
  it('refuses ../ entries (even after good ones)', async () => {
    const a = await writeArchive('a.tar.gz', await makeTar([{ path: 'good.txt', body: 'ok' }, { path: '../evil.txt', body: 'x' }]));
    await refused(decompress(files, a, '/out'), 'path_escape');
    const b = await writeArchive('b.tar.gz', await makeTar([{ path: 'dir/../../evil.txt', body: 'x' }]));
    await refused(decompress(files, b, '/'), 'path_escape');
    expect(await tree(root)).toEqual(['a.tar.gz', 'b.tar.gz']);
    expect(await readdir(base)).toEqual(['outside', 'root']);
  });

  it('refuses absolute entries', async () => {
    const a = await writeArchive('a.tar', await makeTar([{ path: `${outside}/evil.txt`, body: 'x' }], false));
    await refused(decompress(files, a, '/'), 'path_escape');
    expect(await readdir(outside)).toEqual(['secret']);
  });

  it('refuses a symlink pointing outside, absolute or relative', async () => {
    const a = await writeArchive('a.tgz', await makeTar([{ path: 'link', type: 'SymbolicLink', linkpath: outside }]));
    await refused(decompress(files, a, '/'), 'symlink_escape');
    const b = await writeArchive('b.tgz', await makeTar([{ path: 'x/link', type: 'SymbolicLink', linkpath: '../../outside/secret' }]));
    await refused(decompress(files, b, '/'), 'symlink_escape');
    expect(await tree(root)).toEqual(['a.tgz', 'b.tgz']);
  });

  it('refuses a symlink then a write through it (even one pointing inside)', async () => {
    await mkdir(path.join(root, 'sub'));
    const a = await writeArchive('a.tgz', await makeTar([{ path: 'l', type: 'SymbolicLink', linkpath: 'sub' }, { path: 'l/pwned', body: 'x' }]));
    await refused(decompress(files, a, '/'), 'symlink_escape');
    expect(await tree(root)).toEqual(['a.tgz', 'sub']);
  });

  it('never follows links already in the target: a dir link is refused, a file link is replaced', async () => {
    await symlink(outside, path.join(root, 'plugins'));
    const a = await writeArchive('a.tgz', await makeTar([{ path: 'plugins/evil.jar', body: 'x' }]));
    await refused(decompress(files, a, '/'), 'symlink_escape');
    expect(await readdir(outside)).toEqual(['secret']);

    await symlink(path.join(outside, 'secret'), path.join(root, 'server.properties'));
    const b = await writeArchive('b.tgz', await makeTar([{ path: 'server.properties', body: 'motd=restored\n' }]));
    await decompress(files, b, '/');
    expect((await lstat(path.join(root, 'server.properties'))).isFile()).toBe(true);
    expect(await readFile(path.join(root, 'server.properties'), 'utf8')).toBe('motd=restored\n');
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
  });
});

describe('bombs stop at the limits', () => {
  it('a gzip bomb (200 MB of zeros in ~200 KB) stops at the size limit, leaving nothing', async () => {
    // Streamed, so the test itself never holds 200 MB.
    const size = 200 * 1024 * 1024;
    const header = new Header({ path: 'zeros.bin', type: 'File', size, mode: 0o644, mtime: new Date() });
    header.encode();
    const tarStream = Readable.from((function* () {
      yield header.block!;
      const zero = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 200; i++) yield zero;
      yield Buffer.alloc(1024);
    })());
    const gz: Buffer[] = [];
    for await (const c of tarStream.pipe(createGzip())) gz.push(c as Buffer);
    const bomb = Buffer.concat(gz);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const a = await writeArchive('bomb.tar.gz', bomb);
    const err = await refused(decompress(files, a, '/', { maxBytes: 10 * 1024 * 1024 }), 'archive_limit');
    expect(err.message).toMatch(/bytes/);
    expect(await tree(root)).toEqual(['bomb.tar.gz']);
    // Small entries followed by 100 MB of padding zeros: no entry is large, the expanded stream is.
    const small = await makeTar([{ path: 'a.txt', body: 'a' }], false);
    const padded = Readable.from((function* () {
      yield small;
      const zero = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 100; i++) yield zero;
    })());
    const gz2: Buffer[] = [];
    for await (const c of padded.pipe(createGzip())) gz2.push(c as Buffer);
    const b = await writeArchive('padded.tar.gz', Buffer.concat(gz2));
    const err2 = await refused(decompress(files, b, '/out', { maxBytes: 1024, maxEntries: 10 }), 'archive_limit');
    expect(err2.message).toMatch(/expands to more than/);
    expect(await tree(root)).toEqual(['bomb.tar.gz', 'padded.tar.gz']);
  });

  it('stops at the entry count', async () => {
    const many = await makeTar(Array.from({ length: 150 }, (_, i) => ({ path: `f${i}`, body: '' })));
    const a = await writeArchive('many.tgz', many);
    const err = await refused(decompress(files, a, '/out', { maxEntries: 100 }), 'archive_limit');
    expect(err.message).toMatch(/100 entries/);
    expect(await tree(root)).toEqual(['many.tgz']);
    expect((await decompress(files, a, '/out', { maxEntries: 150 })).entries).toBe(150);
  });

  it('stops at the time limit', async () => {
    const many = await makeTar(Array.from({ length: 3000 }, (_, i) => ({ path: `d${i % 30}/f${i}`, body: 'x' })));
    const a = await writeArchive('slow.tgz', many);
    const err = await refused(decompress(files, a, '/out', { timeoutMs: 1 }), 'archive_limit');
    expect(err.message).toMatch(/longer than 1 ms/);
  });

  it('a stream that stalls mid-file stops at the time limit: the half-written file and its temp file are gone', async () => {
    const full = await makeTar([{ path: 'world/level.dat', body: Buffer.alloc(200_000, 5) }], false);
    let opened = 0;
    const source = () => {
      opened++;
      if (opened === 1) return Readable.from([full]); // the validation pass sees it whole
      return Readable.from((async function* () {
        yield full.subarray(0, 100_000);
        await new Promise(() => {}); // then nothing, ever
      })());
    };
    const err = await refused(extractArchive(source, files, '/', { timeoutMs: 300 }), 'archive_limit');
    expect(err.message).toMatch(/longer than 300 ms/);
    expect(opened).toBe(2);
    expect(await tree(root)).toEqual(['world']);
  });

  it('refuses garbage as an invalid archive', async () => {
    const a = await writeArchive('junk.tar.gz', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(2000, 7)]));
    await refused(decompress(files, a, '/'), 'invalid_archive');
  });
});

describe('round trip', () => {
  it('compress → decompress keeps contents, modes (minus setuid), links; skips hard links and never reads through links', async () => {
    await mkdir(path.join(root, 'world/region'), { recursive: true });
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await writeFile(path.join(root, 'world/region/r.0.0.mca'), big);
    await writeFile(path.join(root, 'start.sh'), '#!/bin/sh\n', { mode: 0o755 });
    execFileSync('chmod', ['4755', path.join(root, 'start.sh')]);
    await symlink('../start.sh', path.join(root, 'world/start-link'));
    await symlink(outside, path.join(root, 'world/outside-link'));
    await link(path.join(outside, 'secret'), path.join(root, 'world/hard'));
    await writeFile(path.join(root, 'world/long-' + 'n'.repeat(150)), 'long name');

    const r = await compress(files, ['/world', '/start.sh'], '/backups/world.tar.gz');
    expect(r.archivePath).toBe('/backups/world.tar.gz');
    expect(r.skipped.map((s) => s.path).sort()).toEqual(['/world/hard', '/world/outside-link']);
    await refused(compress(files, ['/world'], '/backups/world.tar.gz'), 'exists');

    // Plain tar reads it too (node-tar wrote standard ustar/pax).
    const listing = execFileSync('tar', ['-tzvf', path.join(root, 'backups/world.tar.gz')], { encoding: 'utf8' });
    expect(listing).toContain('world/region/r.0.0.mca');
    expect(listing).toContain('world/start-link -> ../start.sh');
    expect(listing).not.toContain('outside-link');
    expect(listing).not.toContain('top secret');

    // The archive was written while /world was walked; extracting it elsewhere:
    const x = await decompress(files, '/backups/world.tar.gz', '/restored');
    expect(x.entries).toBeGreaterThan(5);
    expect(createHash('sha256').update(await readFile(path.join(root, 'restored/world/region/r.0.0.mca'))).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect((await stat(path.join(root, 'restored/start.sh'))).mode & 0o7777).toBe(0o755);
    expect(await readlink(path.join(root, 'restored/world/start-link'))).toBe('../start.sh');
    await expect(lstat(path.join(root, 'restored/world/outside-link'))).rejects.toThrow();
    expect(await readFile(path.join(root, `restored/world/long-${'n'.repeat(150)}`), 'utf8')).toBe('long name');
  }, 30_000);

  it('extracts hard-link entries as copies and drops FIFOs; extractTarGz works on a host path', async () => {
    const data = await makeTar([
      { path: 'dir/', type: 'Directory' },
      { path: 'dir/a.txt', body: 'A' },
      { path: 'dir/b.txt', type: 'Link', linkpath: 'dir/a.txt' },
      { path: 'dir/fifo', type: 'FIFO' },
      { path: './dir/c.txt', body: 'C', mode: 0o6755 },
    ]);
    const archive = path.join(base, 'host.tar.gz');
    await writeFile(archive, data);
    const r = await extractTarGz(archive, root);
    expect(r.skipped).toEqual(['/dir/fifo']);
    expect(await tree(root)).toEqual(['dir', 'dir/a.txt', 'dir/b.txt', 'dir/c.txt']);
    expect((await stat(path.join(root, 'dir/b.txt'))).nlink).toBe(1);
    expect(await readFile(path.join(root, 'dir/b.txt'), 'utf8')).toBe('A');
    expect((await stat(path.join(root, 'dir/c.txt'))).mode & 0o7777).toBe(0o755);
  });

  it('packServerFiles streams an archive that extractArchive reads back (the backups entry points)', async () => {
    await writeFile(path.join(root, 'x.txt'), 'x');
    const { stream, done } = packServerFiles(files, ['/']);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect((await done).entries).toBe(1);
    const dest = path.join(base, 'dest');
    await mkdir(dest);
    const r = await extractArchive(() => Readable.from([Buffer.concat(chunks)]), await ServerFiles.open(dest), '/');
    expect(r.entries).toBe(1);
    expect(await readFile(path.join(dest, 'x.txt'), 'utf8')).toBe('x');
  });
});
