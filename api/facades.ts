// Every panel API Gantry serves, in one registry: app.ts mounts each as its own sub-app, and the
// RBAC-matrix, OpenAPI-parity and garbage-input tests walk every facade's routes. A new facade adds
// its entry here (docs/ARCHITECTURE.md "How to add a facade").
import type { Facade } from './http/dialect.ts';
import { CATALYST } from './catalyst/dialect.ts';
import { CATALYST_ROUTES, EXTRA_PATHS } from './routes/catalyst.ts';
import { ClientSockets, CLIENT_WS_PATH } from './ws/client-hub.ts';

/** The primary API: Catalyst's paths as declared (`/api/...`), its catch-all over `/api`. */
export const CATALYST_FACADE: Facade = {
  name: 'catalyst',
  dialect: CATALYST,
  mount: '',
  scope: '/api',
  routes: CATALYST_ROUTES,
  extraPaths: EXTRA_PATHS,
  sockets: [{ path: CLIENT_WS_PATH, open: (svc, log) => new ClientSockets(svc, { log }) }],
};

export const FACADES: readonly Facade[] = [CATALYST_FACADE];
