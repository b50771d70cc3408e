// Attacks against the confined file system (agent/files/server-files.ts) on real temp dirs: `..`,
// NUL, symlinks out at any depth, dangling symlinks, hard links to outside files, a symlink swapped in
// by another process while operations run, plus the ordinary operations and atomic writes.
import { spawn, type ChildProcess } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileError } from '../../agent/files/errors.ts';
import { ServerFiles } from '../../agent/files/server-files.ts';

let base: string;
let root: string;
let outside: string;
let files: ServerFiles;

beforeEach(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'gantry-files-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret'), 'top secret\n');
  await writeFile(path.join(root, 'server.properties'), 'motd=hello\n');
  files = await ServerFiles.open(root, { maxUploadBytes: 1024 * 1024 });
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function refused(p: Promise<unknown>, code: string): Promise<FileError> {
  try {
    await p;
  } catch (err) {
    expect((err as FileError).name).toBe('FileError');
    expect((err as FileError).code).toBe(code);
    // Messages name the server path, never the host path.
    expect((err as Error).message).not.toContain(base);
    return err as FileError;
  }
  throw new Error(`expected a ${code} refusal, but the operation succeeded`);
}

const outsideNames = () => readdir(outside).then((n) => n.sort());

describe('lexical paths', () => {
  it('refuses .. anywhere, NUL bytes and over-long names', async () => {
    await refused(files.readText('../outside/secret'), 'path_escape');
    await refused(files.readText('/world/../../outside/secret'), 'path_escape');
    await refused(files.writeText('a/../../x', 'x'), 'path_escape');
    await refused(files.list('..'), 'path_escape');
    await refused(files.readText('server.properties\0.png'), 'invalid_path');
    await refused(files.writeText(`${'a'.repeat(300)}`, 'x'), 'invalid_path');
    expect(await outsideNames()).toEqual(['secret']);
  });

  it('treats a leading / as the server root, never the host root', async () => {
    await refused(files.readText('/etc/passwd'), 'not_found');
    expect((await files.readText('/server.properties')).content).toBe('motd=hello\n');
    expect((await files.readText('./server.properties')).content).toBe('motd=hello\n');
  });
});

describe('symlinks', () => {
  it('refuses a symlink to an outside directory for every operation, at any depth', async () => {
    await mkdir(path.join(root, 'a/b'), { recursive: true });
    await symlink(outside, path.join(root, 'a/b/out'));
    await symlink(outside, path.join(root, 'top'));
    for (const p of ['top', 'a/b/out']) {
      await refused(files.list(p), 'symlink_escape');
      await refused(files.readText(`${p}/secret`), 'symlink_escape');
      await refused(files.openRead(`${p}/secret`), 'symlink_escape');
      await refused(files.writeText(`${p}/pwned`, 'x'), 'symlink_escape');
      await refused(files.writeText(`${p}/new/deeper`, 'x'), 'symlink_escape');
      await refused(files.mkdir(`${p}/dir`), 'symlink_escape');
      await refused(files.mkdir(`${p}/dir/sub`, { recursive: true }), 'symlink_escape');
      await refused(files.delete(`${p}/secret`), 'symlink_escape');
      await refused(files.chmod(`${p}/secret`, 0o777), 'symlink_escape');
      await refused(files.rename(`${p}/secret`, 'stolen'), 'symlink_escape');
      await refused(files.rename('server.properties', `${p}/planted`), 'symlink_escape');
      await refused(files.copy(`${p}/secret`, 'stolen'), 'symlink_escape');
      await refused(files.create(`${p}/c`, { content: 'x' }), 'symlink_escape');
    }
    expect(await outsideNames()).toEqual(['secret']);
    expect((await stat(path.join(outside, 'secret'))).mode & 0o777).not.toBe(0o777);
    await expect(lstat(path.join(root, 'stolen'))).rejects.toThrow();
  });

  it('refuses a symlink to an outside file: no read, no write through it, no chmod', async () => {
    await symlink(path.join(outside, 'secret'), path.join(root, 'config.yml'));
    await symlink('../outside/secret', path.join(root, 'relative.yml'));
    for (const p of ['config.yml', 'relative.yml']) {
      await refused(files.readText(p), 'symlink_escape');
      await refused(files.writeText(p, 'pwned'), 'symlink_escape');
      await refused(files.writeStream(p, Readable.from([Buffer.from('pwned')])), 'symlink_escape');
      await refused(files.chmod(p, 0o666), 'invalid_path');
    }
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
  });

  it('follows a symlink that stays inside the root (operators keep such links)', async () => {
    await mkdir(path.join(root, 'plugins-real'));
    await symlink('plugins-real', path.join(root, 'plugins'));
    await symlink('server.properties', path.join(root, 'props'));
    await files.writeText('plugins/a.jar', 'jar');
    expect(await readFile(path.join(root, 'plugins-real/a.jar'), 'utf8')).toBe('jar');
    expect((await files.list('plugins')).entries.map((e) => e.name)).toEqual(['a.jar']);
    expect((await files.readText('props')).content).toBe('motd=hello\n');
    await files.writeText('props', 'motd=changed\n');
    expect((await lstat(path.join(root, 'props'))).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(root, 'server.properties'), 'utf8')).toBe('motd=changed\n');
  });

  it('never writes through a dangling symlink (inside or outside target)', async () => {
    await symlink(path.join(outside, 'new-file'), path.join(root, 'dangling-out'));
    await symlink('does-not-exist', path.join(root, 'dangling-in'));
    await refused(files.writeText('dangling-out', 'x'), 'symlink_escape');
    await refused(files.writeText('dangling-in', 'x'), 'symlink_escape');
    await refused(files.readText('dangling-in'), 'symlink_escape');
    expect(await outsideNames()).toEqual(['secret']);
    await expect(lstat(path.join(root, 'does-not-exist'))).rejects.toThrow();
    // create() refuses the name instead of following it.
    await refused(files.create('dangling-out', { content: 'x' }), 'exists');
  });

  it('deleting a symlink removes only the link; deleting a tree never follows links in it', async () => {
    await symlink(outside, path.join(root, 'out-link'));
    await files.delete('out-link');
    await expect(lstat(path.join(root, 'out-link'))).rejects.toThrow();
    expect(await outsideNames()).toEqual(['secret']);

    await mkdir(path.join(root, 'world/region'), { recursive: true });
    await writeFile(path.join(root, 'world/region/r.0.0.mca'), 'x');
    await symlink(outside, path.join(root, 'world/region/evil'));
    await symlink(path.join(outside, 'secret'), path.join(root, 'world/secret-link'));
    await files.delete('/world');
    await expect(lstat(path.join(root, 'world'))).rejects.toThrow();
    expect(await outsideNames()).toEqual(['secret']);
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
  });

  it('lists a symlink as a link with its stored target, without following it', async () => {
    await symlink(outside, path.join(root, 'out-link'));
    const e = (await files.list('/')).entries.find((x) => x.name === 'out-link');
    expect(e).toMatchObject({ type: 'symlink', isDirectory: false, target: outside });
    expect(await files.stat('out-link')).toMatchObject({ type: 'symlink' });
  });
});

describe('hard links', () => {
  it('refuses reading, writing and chmod of a file with a second link (an outside file)', async () => {
    await link(path.join(outside, 'secret'), path.join(root, 'hard'));
    await refused(files.readText('hard'), 'hardlink');
    await refused(files.openRead('hard'), 'hardlink');
    await refused(files.writeText('hard', 'pwned'), 'hardlink');
    await refused(files.chmod('hard', 0o666), 'hardlink');
    await refused(files.copy('hard', 'copy'), 'hardlink');
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
    // Deleting the name is harmless (only this link goes).
    await files.delete('hard');
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
  });
});

describe('a symlink swapped in by another process while operations run', () => {
  let swapper: ChildProcess | undefined;
  afterEach(() => {
    swapper?.kill('SIGKILL');
    swapper = undefined;
  });

  it('never reads or writes outside, whatever the interleaving', async () => {
    await mkdir(path.join(root, 'd'));
    await writeFile(path.join(root, 'd/file'), 'inside');
    // `d` flips between the real directory and a symlink to the outside dir as fast as the shell can.
    swapper = spawn('sh', ['-c', `cd '${root}' && while :; do mv -T d d.real; ln -s '${outside}' d; rm -f d; mv -T d.real d; done 2>/dev/null`], { stdio: 'ignore' });
    const codes = new Map<string, number>();
    let ok = 0;
    const note = (err: unknown) => {
      const code = (err as FileError).code;
      if ((err as Error).name !== 'FileError') throw err;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    };
    for (let i = 0; i < 300; i++) {
      // createParents: false, or a write could recreate `d` while it is away and stop the swapper.
      await files.writeText(`d/w${i % 5}`, `v${i}`, { createParents: false }).then(() => ok++, note);
      await files.readText('d/secret').then((r) => {
        throw new Error(`read the outside file through the swapped link: ${r.content}`);
      }, note);
      await files.chmod('d/secret', 0o600).then(() => {
        throw new Error('chmod reached the outside file');
      }, note);
      await files.list('d').then((r) => {
        if (r.entries.some((e) => e.name === 'secret')) throw new Error('listed the outside directory');
      }, note);
    }
    swapper.kill('SIGKILL');
    expect(await outsideNames()).toEqual(['secret']);
    expect((await stat(path.join(outside, 'secret'))).mode & 0o777).not.toBe(0o600);
    for (const code of codes.keys()) expect(['symlink_escape', 'not_found', 'not_a_directory']).toContain(code);
    expect(ok).toBeGreaterThan(0);
  });
});

describe('operations', () => {
  it('list, stat, create, mkdir, rename, copy, chmod, deleteMany', async () => {
    await files.create('/configs/new.yml', { content: 'key: value\n' });
    await refused(files.create('/configs/new.yml', { content: 'again' }), 'exists');
    await files.create('/backups', { isDirectory: true });
    await refused(files.create('/backups', { isDirectory: true }), 'exists');
    await files.mkdir('/a/b/c', { recursive: true });
    const l = await files.list('/');
    expect(l.entries.map((e) => [e.name, e.type])).toEqual([
      ['a', 'directory'],
      ['backups', 'directory'],
      ['configs', 'directory'],
      ['server.properties', 'file'],
    ]);
    expect(l.entries[3]).toMatchObject({ size: 11, path: '/server.properties', modeString: '0644' });

    await files.rename('/configs/new.yml', '/a/b/c/moved.yml');
    expect(await readFile(path.join(root, 'a/b/c/moved.yml'), 'utf8')).toBe('key: value\n');
    await refused(files.rename('/a', '/a/b/inside'), 'invalid_path');
    await refused(files.rename('/server.properties', '/a/b/c/moved.yml'), 'exists');
    await refused(files.rename('/missing', '/x'), 'not_found');

    await symlink('../../server.properties', path.join(root, 'a/b/link'));
    await files.copy('/a', '/a-copy');
    expect(await readFile(path.join(root, 'a-copy/b/c/moved.yml'), 'utf8')).toBe('key: value\n');
    expect((await lstat(path.join(root, 'a-copy/b/link'))).isSymbolicLink()).toBe(true);
    await refused(files.copy('/a', '/a/b/x'), 'invalid_path');

    await files.chmod('/a/b/c/moved.yml', 0o600);
    expect((await stat(path.join(root, 'a/b/c/moved.yml'))).mode & 0o777).toBe(0o600);
    await refused(files.chmod('/a/b/c/moved.yml', 0o4755), 'invalid_argument');
    await files.chmod('/a', 0o750);
    expect((await stat(path.join(root, 'a'))).mode & 0o777).toBe(0o750);

    const r = await files.deleteMany(['/a', '/missing', '../x', '/a-copy']);
    expect(r.map((x) => [x.path, x.ok, x.error?.code])).toEqual([
      ['/a', true, undefined],
      ['/missing', false, 'not_found'],
      ['../x', false, 'path_escape'],
      ['/a-copy', true, undefined],
    ]);
    await refused(files.delete('/'), 'invalid_path');
    expect(await readdir(root)).toEqual(expect.arrayContaining(['server.properties', 'backups']));
  });

  it('writes atomically: a failed or too-large upload leaves no file, the old content stays', async () => {
    await files.chmod('server.properties', 0o640);
    async function* failing() {
      yield Buffer.alloc(1000, 1);
      throw new Error('client went away');
    }
    await expect(files.writeStream('server.properties', failing())).rejects.toThrow('client went away');
    expect(await readFile(path.join(root, 'server.properties'), 'utf8')).toBe('motd=hello\n');
    const big = Readable.from((function* () {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(100_000, 2);
    })());
    await refused(files.writeStream('upload.bin', big), 'too_large');
    await refused(files.writeStream('upload.bin', Readable.from([Buffer.alloc(11)]), { maxBytes: 10 }), 'too_large');
    expect((await readdir(root)).sort()).toEqual(['server.properties']); // no file, no temp file
    // A replacement keeps the replaced file's mode.
    await files.writeText('server.properties', 'motd=new\n');
    expect((await stat(path.join(root, 'server.properties'))).mode & 0o777).toBe(0o640);
  });

  it('refuses to read a FIFO or a directory as a file (no hang)', async () => {
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    await refused(files.readText('pipe'), 'invalid_path');
    await mkdir(path.join(root, 'dir'));
    await refused(files.readText('dir'), 'is_a_directory');
    await refused(files.writeText('dir', 'x'), 'is_a_directory');
    await refused(files.list('server.properties'), 'not_a_directory');
  });

  it('openHandle (SFTP): offset I/O inside; never creates, truncates or writes through links or hard links', async () => {
    const { handle } = await files.openHandle('/world/data.bin', { write: true, create: true }).catch(async () => {
      await files.mkdir('/world');
      return files.openHandle('/world/data.bin', { write: true, create: true });
    });
    await handle.write(Buffer.from('world'), 0, 5, 10);
    await handle.close();
    const r = await files.openHandle('/world/data.bin', { read: true });
    const buf = Buffer.alloc(15);
    await r.handle.read(buf, 0, 15, 0);
    await r.handle.close();
    expect(buf.subarray(10).toString()).toBe('world');

    await symlink(path.join(outside, 'created-through-link'), path.join(root, 'dangling'));
    await refused(files.openHandle('/dangling', { write: true, create: true }), 'symlink_escape');
    await symlink(path.join(outside, 'secret'), path.join(root, 'secret-link'));
    await refused(files.openHandle('/secret-link', { write: true, truncate: true }), 'symlink_escape');
    await link(path.join(outside, 'secret'), path.join(root, 'hard'));
    await refused(files.openHandle('/hard', { write: true, truncate: true }), 'hardlink');
    await refused(files.setTimes('/secret-link', new Date(0), new Date(0)), 'symlink_escape');
    expect(await outsideNames()).toEqual(['secret']);
    expect(await readFile(path.join(outside, 'secret'), 'utf8')).toBe('top secret\n');
    expect((await stat(path.join(outside, 'secret'))).mtimeMs).toBeGreaterThan(0);
    expect(ServerFiles.normalize('a/./b//c/')).toBe('/a/b/c');
    expect(() => ServerFiles.normalize('a/../b')).toThrow(/"\.\."/);
  });

  it('openRead streams exactly the size it announced, even while the file grows', async () => {
    await writeFile(path.join(root, 'latest.log'), 'a'.repeat(100_000));
    const r = await files.openRead('latest.log');
    await writeFile(path.join(root, 'latest.log'), 'b'.repeat(50_000), { flag: 'a' });
    let n = 0;
    for await (const c of r.stream) n += (c as Buffer).length;
    expect([r.size, n]).toEqual([100_000, 100_000]);
    await writeFile(path.join(root, 'empty'), '');
    const e = await files.openRead('empty');
    const chunks: Buffer[] = [];
    for await (const c of e.stream) chunks.push(c as Buffer);
    expect([e.size, chunks.length]).toEqual([0, 0]);
  });

  it('reads text within its limit and refuses beyond it', async () => {
    await writeFile(path.join(root, 'big.log'), Buffer.alloc(5000, 0x61));
    expect((await files.readText('big.log', { maxBytes: 5000 })).size).toBe(5000);
    await refused(files.readText('big.log', { maxBytes: 4999 }), 'too_large');
  });
});
