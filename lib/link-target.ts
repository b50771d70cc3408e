// Symlink targets resolved lexically inside a root: shared by the agent's confined file system and
// the SFTP facade (which resolves links the agent reports), so both agree on what escapes.

/** Lexically resolves a symlink's target against the directory holding the link; undefined if it leaves the root. */
export function resolveLinkTarget(linkDir: readonly string[], target: string): string[] | undefined {
  if (target.startsWith('/')) return undefined;
  const out = [...linkDir];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out;
}
