// Backup.spec.ignore: a small, well-defined subset of .gitignore, matched against paths relative to the
// server's data directory ('/'-separated). Written here rather than taken from Node because
// path.matchesGlob is experimental on Node 20 and has no gitignore semantics (negation, anchoring,
// directory-only patterns).
//
//   - blank lines and lines starting with `#` are skipped; trailing spaces are dropped
//   - `!pattern` re-includes what an earlier pattern excluded; the last matching pattern wins.
//     Like git, a file inside an excluded directory cannot be re-included (the directory is not read).
//   - a trailing `/` matches directories only (`logs/`)
//   - a pattern with a `/` at its start or in its middle is anchored to the data directory
//     (`/cache`, `world/region/*.tmp`); otherwise it matches the name at any depth (`*.log`)
//   - `*` any run of characters except `/`, `?` one character except `/`, `[a-z]` / `[!a-z]` a class,
//     `**` any number of directories (`**/x`, `a/**`, `a/**/b`), `\x` a literal x
//   - an excluded directory excludes everything below it

export class IgnorePatternError extends Error {
  override readonly name = 'IgnorePatternError';
}

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
  source: string;
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function globToRegExpBody(glob: string, source: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      if (i + 1 >= glob.length) throw new IgnorePatternError(`ignore pattern "${source}" ends with a lone backslash`);
      out += escapeRe(glob[++i]);
    } else if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const next = glob[i + 2];
        if (atStart && next === '/') {
          out += '(?:.*/)?'; // `**/` : zero or more directories
          i += 2;
        } else if (atStart && next === undefined) {
          out += '.*'; // trailing `/**` : everything inside
          i += 1;
        } else {
          out += '[^/]*'; // `a**b` is just two stars, as in git
          i += 1;
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      let neg = false;
      if (cls[0] === '!' || cls[0] === '^') {
        neg = true;
        cls = cls.slice(1);
      }
      out += `[${neg ? '^/' : ''}${cls.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else {
      out += escapeRe(c);
    }
  }
  return out;
}

function compileRule(line: string): Rule | undefined {
  let p = line.replace(/(?<!\\) +$/, '');
  if (p === '' || p.startsWith('#')) return undefined;
  const source = p;
  let negate = false;
  if (p.startsWith('!')) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith('\\!') || p.startsWith('\\#')) {
    p = p.slice(1);
  }
  let dirOnly = false;
  if (p.endsWith('/') && !p.endsWith('\\/')) {
    dirOnly = true;
    p = p.replace(/\/+$/, '');
  }
  const anchored = p.includes('/');
  p = p.replace(/^\/+/, '');
  if (p === '') throw new IgnorePatternError(`ignore pattern "${source}" matches nothing (empty after removing slashes)`);
  if (p.split('/').some((seg) => seg === '..' || seg === '.')) throw new IgnorePatternError(`ignore pattern "${source}" may not contain "." or ".." segments`);
  const body = globToRegExpBody(p, source);
  return { re: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${body}$`), negate, dirOnly, source };
}

export type IgnoreMatcher = (relPath: string, isDir: boolean) => boolean;

/** Compiles the patterns; throws IgnorePatternError naming the bad one. An empty list ignores nothing. */
export function compileIgnore(patterns: readonly string[] = []): IgnoreMatcher {
  const rules = patterns.map(compileRule).filter((r): r is Rule => !!r);
  if (rules.length === 0) return () => false;
  return (relPath, isDir) => {
    const p = relPath.replace(/^\.\//, '').replace(/\/+$/, '');
    if (p === '' || p === '.') return false; // the data directory itself is never ignored
    let ignored = false;
    for (const r of rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(p)) ignored = !r.negate;
    }
    return ignored;
  };
}
