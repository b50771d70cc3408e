// The SFTP layer's pure parts (chroot paths, attributes, long names), the write feed's memory bound,
// and the host key kept across starts.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { attrsOf, linkTargetPath, longnameOf, opPath, parentOf, realPath, STATUS, statusOfCode } from '../../api/sftp/paths.ts';
import { ChunkFeed } from '../../api/sftp/streams.ts';
import { loadOrCreateHostKey } from '../../api/sftp/server.ts';

describe('chroot paths', () => {
  it('REALPATH clamps .. at the root; operations refuse climbing above it', () => {
    expect(realPath('.')).toBe('/');
    expect(realPath('../../etc')).toBe('/etc');
    expect(realPath('/a/./b/../c/')).toBe('/a/c');
    expect(opPath('/a/b/../c')).toBe('/a/c');
    expect(opPath('a/..')).toBe('/');
    expect(() => opPath('/../../etc/passwd')).toThrow(/leaves the server's directory/);
    expect(() => opPath('a/../../x')).toThrow(/leaves/);
    expect(() => opPath('a\0b')).toThrow(/NUL/);
    expect(parentOf('/a/b')).toBe('/a');
    expect(parentOf('/a')).toBe('/');
  });

  it('symlink targets resolve against the link directory, never above the root or absolute', () => {
    expect(linkTargetPath('/dir/link', 'a.txt')).toBe('/dir/a.txt');
    expect(linkTargetPath('/dir/link', '../b')).toBe('/b');
    expect(linkTargetPath('/link', '../etc/passwd')).toBeUndefined();
    expect(linkTargetPath('/link', '/etc/passwd')).toBeUndefined();
  });

  it('agent refusal codes map to SFTP statuses', () => {
    expect(statusOfCode('not_found')).toBe(STATUS.NO_SUCH_FILE);
    expect(statusOfCode('symlink_escape')).toBe(STATUS.PERMISSION_DENIED);
    expect(statusOfCode('path_escape')).toBe(STATUS.PERMISSION_DENIED);
    expect(statusOfCode('hardlink')).toBe(STATUS.PERMISSION_DENIED);
    expect(statusOfCode('exists')).toBe(STATUS.FAILURE);
    expect(statusOfCode(undefined)).toBe(STATUS.FAILURE);
  });

  it('attributes and ls -l long names', () => {
    const e = { name: 'world', path: '/world', type: 'directory' as const, isDirectory: true, size: 0, mode: 0o755, modeString: '0755', modified: '2026-11-20T10:05:00.000Z' };
    expect(attrsOf(e)).toEqual({ mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 1795169100, mtime: 1795169100 });
    expect(longnameOf(e, Date.parse('2026-11-23T00:00:00Z'))).toBe('drwxr-xr-x    1 gantry   gantry            0 Nov 20 10:05 world');
    const link = { ...e, name: 'l', type: 'symlink' as const, isDirectory: false, mode: 0o777, target: 'world' };
    expect(longnameOf(link, Date.parse('2027-11-23T00:00:00Z'))).toBe('lrwxrwxrwx    1 gantry   gantry            0 Nov 20  2026 l -> world');
  });
});

describe('ChunkFeed', () => {
  it('holds writers back above its high-water mark until the upload takes chunks', async () => {
    const feed = new ChunkFeed(10);
    await feed.push(Buffer.alloc(8)); // below the mark: acknowledged at once
    let second = false;
    const p = feed.push(Buffer.alloc(8)).then(() => (second = true));
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    const it = feed[Symbol.asyncIterator]();
    expect((await it.next()).value).toHaveLength(8);
    await p;
    expect(second).toBe(true);
    feed.end();
    expect((await it.next()).value).toHaveLength(8);
    expect((await it.next()).done).toBe(true);
  });

  it('a failure reaches both the upload and the next writer', async () => {
    const feed = new ChunkFeed(4);
    const writer = feed.push(Buffer.alloc(8));
    feed.fail(new Error('out of order'));
    await expect(writer).rejects.toThrow('out of order');
    await expect(feed[Symbol.asyncIterator]().next()).rejects.toThrow('out of order');
  });
});

describe('host key', () => {
  it('is generated once, kept 0600 and reused; a damaged file is refused by name', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sftp-key-'));
    try {
      const a = await loadOrCreateHostKey(dir);
      expect(a).toMatch(/BEGIN OPENSSH PRIVATE KEY/);
      expect((await stat(path.join(dir, 'sftp_host_key'))).mode & 0o777).toBe(0o600);
      expect(await loadOrCreateHostKey(dir)).toBe(a);
      await writeFile(path.join(dir, 'sftp_host_key'), 'garbage');
      await expect(loadOrCreateHostKey(dir)).rejects.toThrow(/sftp_host_key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
