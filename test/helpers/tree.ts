// What a directory tree holds, for comparing before and after (backups, restores, archives).
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Every file, dir and symlink under root: relative path → type, mode, owner and content hash (files)
 * or target (symlinks; their owner too unless `linkOwner` is false — a restore may not keep it).
 */
export async function treeSnapshot(root: string, opts: { linkOwner?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const s = await lstat(full);
      const owner = `${s.uid}:${s.gid}`;
      const mode = (s.mode & 0o7777).toString(8);
      if (s.isSymbolicLink()) out[r] = opts.linkOwner === false ? `link ${await readlink(full)}` : `link ${await readlink(full)} ${owner}`;
      else if (s.isDirectory()) {
        out[r] = `dir ${mode} ${owner}`;
        await walk(full, r);
      } else if (!s.isFile()) out[r] = `special ${mode} ${owner}`; // a FIFO would block a read
      else out[r] = `file ${mode} ${owner} ${createHash('sha256').update(await readFile(full)).digest('hex')}`;
    }
  };
  await walk(root, '');
  return out;
}
