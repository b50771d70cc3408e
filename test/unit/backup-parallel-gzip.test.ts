// Parallel gzip (agent/backups/parallel-gzip.ts): members compressed on every core, each carrying its
// size, read back in parallel; standard readers (zlib, GNU gzip) read the same files; anything else
// falls back to one stream; damaged or hostile input fails with an error, never with unbounded memory.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_BLOCK_BYTES, ParallelGunzip, ParallelGzip } from '../../agent/backups/parallel-gzip.ts';

const collect = async (input: Buffer | Buffer[], t: Transform): Promise<Buffer> =>
  Buffer.concat(await Readable.from(Array.isArray(input) ? input : [input]).pipe(t).toArray());
const gz = (data: Buffer, opts?: ConstructorParameters<typeof ParallelGzip>[0]) => collect(chunks(data, 70_000), new ParallelGzip(opts));
const gunzip = (data: Buffer, opts?: ConstructorParameters<typeof ParallelGunzip>[0]) => collect(chunks(data, 50_000), new ParallelGunzip(opts));
function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < b.length; o += n) out.push(b.subarray(o, o + n));
  return out.length ? out : [b];
}
const mixed = (n: number) => {
  const b = Buffer.alloc(n);
  for (let o = 0; o < n; o += 8192) (o / 8192) % 2 ? randomBytes(Math.min(8192, n - o)).copy(b, o) : b.fill(`line ${o}\n`, o, Math.min(n, o + 8192));
  return b;
};
/** The members' recorded sizes, walking the file by them. */
function members(file: Buffer): number[] {
  const sizes: number[] = [];
  for (let off = 0; off < file.length; ) {
    expect(file[off + 3] & 0x04).toBe(0x04); // FEXTRA
    expect(file.subarray(off + 12, off + 14).toString()).toBe('GZ');
    const size = file.readUInt32LE(off + 16);
    sizes.push(size);
    off += size;
  }
  return sizes;
}

describe('ParallelGzip / ParallelGunzip', () => {
  it.each([0, 1, GZIP_BLOCK_BYTES - 1, GZIP_BLOCK_BYTES, GZIP_BLOCK_BYTES + 1, Math.floor(3.5 * GZIP_BLOCK_BYTES)])('round-trips %i bytes; zlib and GNU gzip read the same file', async (n) => {
    const data = mixed(n);
    const file = await gz(data);
    expect(members(file).reduce((a, b) => a + b, 0)).toBe(file.length);
    expect(members(file)).toHaveLength(Math.max(1, Math.ceil(n / GZIP_BLOCK_BYTES)));
    expect((await gunzip(file)).equals(data)).toBe(true);
    expect(zlib.gunzipSync(file).equals(data)).toBe(true);
    expect(execFileSync('gzip', ['-dc'], { input: file, maxBuffer: 64 << 20 }).equals(data)).toBe(true);
  });

  it('keeps the order with many small blocks in flight', async () => {
    const data = mixed(300_000);
    const file = await gz(data, { blockBytes: 1000, concurrency: 4 });
    expect(members(file)).toHaveLength(300);
    expect((await gunzip(file, { concurrency: 4 })).equals(data)).toBe(true);
  });

  it('compresses about as well as one gzip stream', async () => {
    const data = mixed(4 * GZIP_BLOCK_BYTES);
    const ours = await gz(data);
    expect(ours.length / zlib.gzipSync(data, { level: 6 }).length).toBeLessThan(1.01);
  });

  it('reads other gzip files as one stream: zlib, GNU gzip, concatenated members', async () => {
    const data = mixed(2 * GZIP_BLOCK_BYTES + 5);
    expect((await gunzip(zlib.gzipSync(data))).equals(data)).toBe(true);
    const gnu = execFileSync('gzip', ['-c'], { input: data, maxBuffer: 64 << 20 });
    expect((await gunzip(gnu)).equals(data)).toBe(true);
    const two = Buffer.concat([zlib.gzipSync(data.subarray(0, 1000)), zlib.gzipSync(data.subarray(1000))]);
    expect((await gunzip(two)).equals(data)).toBe(true);
  });

  it('fails on damaged or hostile input, without inflating what it refuses', async () => {
    const data = mixed(2 * GZIP_BLOCK_BYTES);
    const file = await gz(data);
    const first = members(file)[0];
    await expect(gunzip(file.subarray(0, first + 100))).rejects.toThrow(/ends in the middle of a member/);
    await expect(gunzip(file.subarray(0, 5))).rejects.toThrow(); // too short even for zlib
    const huge = Buffer.from(file);
    huge.writeUInt32LE(100 * 1024 * 1024, 16);
    await expect(gunzip(huge)).rejects.toThrow(/out of bounds/);
    const flipped = Buffer.from(file);
    for (let i = 40; i < 60; i++) flipped[i] ^= 0xff;
    await expect(gunzip(flipped)).rejects.toThrow();
    const foreignAfter = Buffer.concat([file.subarray(0, first), zlib.gzipSync(Buffer.from('x'))]);
    await expect(gunzip(foreignAfter)).rejects.toThrow(/without its size field/);
    // A small member (its recorded size is honest) that inflates to 64 MiB: stopped at the 4 MiB bound.
    const bomb = await gz(Buffer.alloc(64 * 1024 * 1024), { blockBytes: 64 * 1024 * 1024 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await expect(gunzip(bomb)).rejects.toThrow(/Cannot create a Buffer larger|maxOutputLength|larger than/i);
  });
});
