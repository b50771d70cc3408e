// Client routes: patterns such as `/servers/:id/:tab?` matched against location.pathname. The API
// serves index.html for any path without an extension, so every route here is a real URL.
export interface RouteMatch {
  name: string;
  params: Record<string, string>;
}

export interface RouteDef {
  name: string;
  pattern: string;
}

export function matchPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split('/').filter(Boolean);
  const got = pathname.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  let i = 0;
  for (; i < want.length; i++) {
    const w = want[i]!;
    const optional = w.endsWith('?');
    const g = got[i];
    if (w.startsWith(':')) {
      if (g === undefined) {
        if (optional) continue;
        return undefined;
      }
      try {
        params[w.slice(1).replace(/\?$/, '')] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (g !== w) {
      return undefined;
    }
  }
  return got.length <= want.length ? params : undefined;
}

export function resolve(routes: readonly RouteDef[], pathname: string): RouteMatch | undefined {
  for (const r of routes) {
    const params = matchPath(r.pattern, pathname);
    if (params) return { name: r.name, params };
  }
  return undefined;
}

/** `/servers/:id/:tab?` + {id: 'a b'} → `/servers/a%20b`. */
export function buildPath(pattern: string, params: Record<string, string | undefined> = {}): string {
  const parts = pattern.split('/').filter(Boolean).map((p) => {
    if (!p.startsWith(':')) return p;
    const v = params[p.slice(1).replace(/\?$/, '')];
    return v === undefined || v === '' ? undefined : encodeURIComponent(v);
  });
  return '/' + parts.filter((p) => p !== undefined).join('/');
}
