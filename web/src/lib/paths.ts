// Paths inside a server's data directory as the file manager shows them: always absolute from the
// server's root, `/` separated. The API refuses anything that climbs out; these only compose names.
export function join(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + name.replace(/^\/+/, '');
}

export function parent(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i <= 0 ? '/' : trimmed.slice(0, i);
}

export function baseName(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** [{name: '/', path: '/'}, {name: 'world', path: '/world'}, …] */
export function crumbs(p: string): { name: string; path: string }[] {
  const out = [{ name: '/', path: '/' }];
  let acc = '';
  for (const part of p.split('/').filter(Boolean)) {
    acc += '/' + part;
    out.push({ name: part, path: acc });
  }
  return out;
}

export type EditorLanguage = 'json' | 'yaml' | 'javascript' | 'properties' | 'toml' | 'shell' | 'xml' | 'plain';

export function languageOf(name: string): EditorLanguage {
  const lower = name.toLowerCase();
  const ext = lower.includes('.') ? lower.slice(lower.lastIndexOf('.') + 1) : '';
  if (ext === 'json' || ext === 'mcmeta') return 'json';
  if (ext === 'yml' || ext === 'yaml') return 'yaml';
  if (ext === 'js' || ext === 'mjs' || ext === 'ts') return 'javascript';
  if (ext === 'properties' || ext === 'ini' || ext === 'cfg' || ext === 'conf' || ext === 'env') return 'properties';
  if (ext === 'toml') return 'toml';
  if (ext === 'sh' || ext === 'bash') return 'shell';
  if (ext === 'xml' || ext === 'html') return 'xml';
  return 'plain';
}

const ARCHIVE = /\.(tar\.gz|tgz|tar)$/i;
export const isArchive = (name: string) => ARCHIVE.test(name);

/** "rwxr-xr-x" for 0o755. */
export function modeString(mode: number): string {
  const bits = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-';
  return s;
}

/** "755" / "0755" / "rwxr-xr-x" → 0o755; undefined when it is neither. */
export function parseMode(text: string): number | undefined {
  const t = text.trim();
  if (/^0?[0-7]{3}$/.test(t)) return parseInt(t, 8);
  if (/^[r-][w-][x-][r-][w-][x-][r-][w-][x-]$/.test(t)) {
    let m = 0;
    for (let i = 0; i < 9; i++) if (t[i] !== '-') m |= 1 << (8 - i);
    return m;
  }
  return undefined;
}
