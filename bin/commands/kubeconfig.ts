// `gantry kubeconfig`: a kubeconfig for the real kubectl (and client libraries) against this Gantry's
// Kubernetes dialect. The cluster's server is Gantry's HTTPS listener plus the dialect's base path
// (https://HOST:6443/k8s; client-go sends a token only over TLS), with Gantry's CA; the user carries a
// bearer token: the CLI's current one, or with --api-key a new API key (lasting until
// revoked, where a login's access token expires within the hour and kubectl cannot refresh it).
import { parseCliArgs } from '../args.ts';
import { stringify } from 'yaml';
import { KUBE_BASE } from '../../api/kube/app.ts';
import { ApiError, GantryClient, defaultServer } from '../client.ts';
import type { CommandIO } from './resources.ts';

export const KUBECONFIG_USAGE = `Usage:
  gantry kubeconfig [--server URL] [--api-key [--name NAME]] [--namespace NS] > ~/.kube/gantry.yaml
      print a kubeconfig for kubectl (cluster URL/k8s, a bearer token, context "gantry", namespace
      default); --api-key creates a new API key for it instead of the short-lived login token`;

interface Me {
  username: string;
}

interface Endpoint {
  tlsPort: number;
  basePath: string;
  certificateAuthorityData: string;
}

/** The kubeconfig document itself: `server` is the dialect's URL (https://HOST:PORT/k8s). */
export function kubeconfigFor(opts: { server: string; token: string; username: string; certificateAuthorityData?: string; namespace?: string; context?: string }): Record<string, unknown> {
  const context = opts.context ?? 'gantry';
  const user = `${opts.username}@${context}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server: opts.server, ...(opts.certificateAuthorityData ? { 'certificate-authority-data': opts.certificateAuthorityData } : {}) } }],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name: context, context: { cluster: context, user, namespace: opts.namespace ?? 'default' } }],
    'current-context': context,
    preferences: {},
  };
}

export async function kubeconfigCommand(argv: string[], io: CommandIO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      server: { type: 'string', default: defaultServer(env) },
      'api-key': { type: 'boolean' },
      name: { type: 'string', default: 'kubectl' },
      namespace: { type: 'string', short: 'n', default: 'default' },
      context: { type: 'string', default: 'gantry' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.out(KUBECONFIG_USAGE);
    return 0;
  }
  const client = new GantryClient(values.server, { env });
  // Through the API first: a refused or expired login fails here, not later inside kubectl.
  const me = (await client.request<{ data: Me }>('GET', '/api/auth/me')).data;
  const endpoint = await client.request<Endpoint>('GET', `${KUBE_BASE}/endpoint`);
  const https = new URL(values.server);
  https.protocol = 'https:';
  https.port = String(endpoint.tlsPort);
  https.pathname = endpoint.basePath;
  let token: string | undefined;
  if (values['api-key']) {
    const created = await client.request<{ data: { key: string; prefix: string } }>('POST', '/api/auth/api-keys', { name: values.name, permissions: ['*'] });
    token = created.data.key;
    io.err(`created API key ${created.data.prefix}… ("${values.name}"); revoke it with DELETE /api/auth/api-keys/:id when done`);
  } else {
    token = await client.currentToken();
    if (!token) throw new ApiError(`no credentials for ${values.server}: run \`gantry login\` or set GANTRY_TOKEN`, 0);
    if (!token.startsWith('gak_')) io.err('note: this is your login\'s access token, which expires within the hour; use --api-key for a lasting credential');
  }
  const server = https.toString().replace(/\/+$/, '');
  io.out(stringify(kubeconfigFor({ server, token, username: me.username, certificateAuthorityData: endpoint.certificateAuthorityData, namespace: values.namespace, context: values.context })).trimEnd());
  return 0;
}
