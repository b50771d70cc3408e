// How a test speaks to a facade as its clients do: where the credential goes, and its paths.
import type { Facade } from '../../api/http/dialect.ts';
import type { RouteSpec } from '../../api/http/route.ts';

/** Headers (and a query suffix) carrying `token` the way the facade's dialect reads it. */
export function credentialFor(facade: Facade, token: string | undefined): { headers: Record<string, string>; query: string } {
  if (!token) return { headers: {}, query: '' };
  const c = facade.dialect.credential;
  if (c.in === 'header') return { headers: { [c.name]: c.scheme === 'bearer' ? `Bearer ${token}` : token }, query: '' };
  if (c.in === 'cookie') return { headers: { cookie: `${c.name}=${encodeURIComponent(token)}` }, query: '' };
  return { headers: {}, query: `${c.name}=${encodeURIComponent(token)}` };
}

/** The request path of a route on the main port, its server parameter filled with `serverId`. */
export function routePath(facade: Facade, r: RouteSpec, serverId: string, otherParams = 'fixture-param'): string {
  return facade.mount + r.path.replace(new RegExp(`:${facade.dialect.serverParam}\\b`, 'g'), serverId).replace(/:[A-Za-z0-9_]+/g, otherParams);
}

export const withQuery = (path: string, query: string) => (query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path);
