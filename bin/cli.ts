// Entry point of the `gantry` command: parses arguments and hands over to one command module.
import { parseCliArgs } from './args.ts';
import { packagePath } from '../lib/package-files.ts';
import { GANTRY_VERSION } from '../lib/version.ts';
import type { CommandIO } from './commands/resources.ts';

const USAGE = `gantry ${GANTRY_VERSION} — declarative game servers on Docker

Usage:
  gantry up [--data-dir .gantry] [--manifests DATA_DIR/manifests] [--port 8080] [--host 127.0.0.1]
            [--seed DIR | --no-seed] [--no-agent] [--node-name NAME] [--sftp-port 2022 | -1 | --no-sftp]
            [--max-body-kb 1024] [--upload-max-mb 100] [--tls-port 6443 | -1 | --no-tls] [--tls-san NAME ...]
            [--web-dir web/dist | --no-web]
            [--facade-port NAME=PORT ...]
            [--store-only]
                                   run everything on this machine: store, manifests watcher, API,
                                   and a local agent enrolled as GameNode NAME (default: hostname);
                                   ServerTemplates in --seed (default manifests/examples) are
                                   created when missing; the API is also served over HTTPS on
                                   --tls-port (a CA of its own in DATA_DIR/tls), where kubectl goes;
                                   --facade-port serves one panel's API alone at / on its own port
                                   --store-only serves the store and its APIs with no controllers
                                   and no agent (an apiserver for \`gantry controller --kubeconfig\`)
  gantry apply -f FILE|DIR [-f ...] [-n NS]     create or update resources from YAML
  gantry get KIND [NAME] [-n NS | -A] [-l SELECTOR] [-o yaml|json|name|wide]
  gantry delete KIND NAME... [-n NS]  |  gantry delete -f FILE|DIR
  gantry kubeconfig [--server URL] [--api-key] [-n NS]
                                   print a kubeconfig for kubectl (server URL/k8s, a bearer token)
  gantry controller [--kubeconfig FILE] [--port 8080] [--probe-port 8081] [--lease-name gantry-controller]
            [--lease-namespace NS] [--identity ID] [--lease-duration 15] [--renew-deadline 10]
            [--retry-period 2] [--data-dir DIR] [--database postgres://… | FILE]
            [--events kubernetes|database] [--public-url URL] [--sftp-port 2022 | --no-sftp]
                                   run on a Kubernetes API server (--kubeconfig or $KUBECONFIG, else
                                   the in-cluster config): replicas elect a leader on a Lease; only
                                   the leader runs controllers, agent hub and API; /readyz on the
                                   probe port answers 200 only there; --database postgres://…
                                   ($GANTRY_DATABASE_URL) holds accounts, grants, audit, node
                                   credentials, events, alerts for every replica (default
                                   DATA_DIR/gantry.db); events are core/v1 Events on the API server
                                   unless --events database
  gantry agent --panel URL --token TOKEN [--data-dir /var/lib/gantry-agent]
                                   run the node agent (enrols with the one-time token on first start)
  gantry node token NAME [--ttl 1h]  issue a deployment token for a GameNode
  gantry login [--server URL] [--email E | --username U] [--password-stdin] [--totp-code CODE]
                                   sign in; the session is kept 0600 in ~/.config/gantry/credentials.json
                                   (or $GANTRY_CONFIG_DIR) and refreshed as needed
  gantry logout                    end the stored session
  gantry whoami [-o json]          who the CLI is signed in as
  gantry version

Client commands talk to --server URL (default $GANTRY_SERVER, else the server you logged in to, else
http://127.0.0.1:8080) and authenticate with $GANTRY_TOKEN (an access token or API key) or the login.
`;

const io: CommandIO = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

// Each command imports what it needs when it runs: `gantry agent` never loads the client, and
// `gantry get` never loads the server (start time and memory of every process).
const clientOptions = {
  server: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

/** The client commands' modules, the kinds (names, printer columns) and a client for --server. */
async function clientCommand(server: string | undefined) {
  const [{ CrdKinds }, { GantryClient, defaultServer }, commands] = await Promise.all([
    import('../crds/kinds.ts'),
    import('./client.ts'),
    import('./commands/resources.ts'),
  ]);
  return { registry: CrdKinds.loadSync(), client: new GantryClient(server ?? defaultServer()), ...commands };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const { values } = parseCliArgs({
        args: rest,
        options: {
          'data-dir': { type: 'string', default: process.env.GANTRY_DATA_DIR ?? '.gantry' },
          manifests: { type: 'string', default: process.env.GANTRY_MANIFESTS },
          seed: { type: 'string', default: process.env.GANTRY_SEED ?? packagePath('manifests/examples') },
          'no-seed': { type: 'boolean' },
          'no-agent': { type: 'boolean' },
          'store-only': { type: 'boolean' },
          'node-name': { type: 'string', default: process.env.GANTRY_NODE_NAME },
          port: { type: 'string', default: process.env.GANTRY_PORT ?? '8080' },
          host: { type: 'string', default: process.env.GANTRY_HOST ?? '127.0.0.1' },
          'sftp-port': { type: 'string', default: process.env.GANTRY_SFTP_PORT ?? '2022' },
          'no-sftp': { type: 'boolean' },
          'tls-port': { type: 'string', default: process.env.GANTRY_TLS_PORT },
          'no-tls': { type: 'boolean' },
          'tls-san': { type: 'string', multiple: true },
          'max-body-kb': { type: 'string', default: process.env.GANTRY_MAX_BODY_KB ?? '1024' },
          'upload-max-mb': { type: 'string', default: process.env.GANTRY_UPLOAD_MAX_MB ?? '100' },
          'web-dir': { type: 'string', default: process.env.GANTRY_WEB_DIR },
          'no-web': { type: 'boolean' },
          'facade-port': { type: 'string', multiple: true },
        },
      });
      const facadePorts: Record<string, number> = {};
      for (const v of values['facade-port'] ?? []) {
        const m = /^([a-z0-9-]+)=(\d{1,5})$/.exec(v);
        if (!m || Number(m[2]) > 65535) throw new Error(`--facade-port must be NAME=PORT (e.g. catalyst=8081), not "${v}"`);
        facadePorts[m[1]!] = Number(m[2]);
      }
      const maxBodyKb = Number(values['max-body-kb']);
      if (!Number.isInteger(maxBodyKb) || maxBodyKb < 1 || maxBodyKb > 1024 * 1024) throw new Error(`--max-body-kb must be an integer from 1 to 1048576, not "${values['max-body-kb']}"`);
      const uploadMaxMb = Number(values['upload-max-mb']);
      if (!Number.isInteger(uploadMaxMb) || uploadMaxMb < 1 || uploadMaxMb > 1024 * 1024) throw new Error(`--upload-max-mb must be an integer from 1 to 1048576, not "${values['upload-max-mb']}"`);
      const sftpPort = Number(values['sftp-port']);
      if (!Number.isInteger(sftpPort) || sftpPort < -1 || sftpPort > 65535) throw new Error(`--sftp-port must be -1 to 65535 (0 = any free port; -1 or --no-sftp = SFTP off), not "${values['sftp-port']}"`);
      const tlsPort = Number(values['tls-port'] ?? 6443);
      if (!Number.isInteger(tlsPort) || tlsPort < -1 || tlsPort > 65535) throw new Error(`--tls-port must be -1 to 65535 (0 = any free port; -1 or --no-tls = HTTPS off), not "${values['tls-port']}"`);
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, not "${values.port}"`);
      const { up } = await import('./commands/up.ts');
      const { localNodeName } = await import('./commands/local-agent.ts');
      return up({
        dataDir: values['data-dir'],
        manifestsDir: values.manifests,
        seedDir: values['no-seed'] ? undefined : values.seed,
        port,
        host: values.host,
        sftpPort: values['no-sftp'] ? false : sftpPort,
        tlsPort: values['no-tls'] ? false : tlsPort,
        // Only the default port may move: one asked for by name must be the one served.
        tlsPortFallback: values['tls-port'] === undefined,
        tlsNames: values['tls-san'],
        apiLimits: { maxBodyBytes: maxBodyKb * 1024, uploadMaxBytes: uploadMaxMb * 1024 * 1024 },
        webDir: values['no-web'] ? false : values['web-dir'],
        facadePorts,
        localAgent: values['no-agent'] || values['store-only'] ? undefined : { nodeName: values['node-name'] ?? localNodeName() },
        storeOnly: values['store-only'],
      });
    }
    case 'apply': {
      const { values } = parseCliArgs({ args: rest, options: { ...clientOptions, filename: { type: 'string', short: 'f', multiple: true } } });
      if (!values.filename?.length) throw new Error('gantry apply needs -f FILE|DIR');
      const { apply, client, registry } = await clientCommand(values.server);
      return apply(client, registry, values.filename, values.namespace, io);
    }
    case 'get': {
      const { values, positionals } = parseCliArgs({
        args: rest,
        allowPositionals: true,
        options: {
          ...clientOptions,
          'all-namespaces': { type: 'boolean', short: 'A' },
          output: { type: 'string', short: 'o' },
          selector: { type: 'string', short: 'l' },
        },
      });
      if (!positionals[0]) throw new Error('gantry get needs a KIND (e.g. gameservers, templates, nodes)');
      const { get, client, registry } = await clientCommand(values.server);
      return get(client, registry, positionals[0], positionals[1], {
        namespace: values.namespace,
        allNamespaces: values['all-namespaces'],
        output: values.output,
        selector: values.selector,
      }, io);
    }
    case 'delete': {
      const { values, positionals } = parseCliArgs({
        args: rest,
        allowPositionals: true,
        options: { ...clientOptions, filename: { type: 'string', short: 'f', multiple: true } },
      });
      const { remove, client, registry } = await clientCommand(values.server);
      return remove(client, registry, positionals[0], positionals.slice(1), {
        namespace: values.namespace,
        files: values.filename,
      }, io);
    }
    case 'agent': {
      const { values } = parseCliArgs({
        args: rest,
        options: {
          panel: { type: 'string', default: process.env.GANTRY_PANEL },
          token: { type: 'string', default: process.env.GANTRY_TOKEN_DEPLOY },
          'data-dir': { type: 'string', default: process.env.GANTRY_AGENT_DATA_DIR ?? '/var/lib/gantry-agent' },
        },
      });
      const { agentCommand } = await import('./commands/agent.ts');
      // A local agent started by `gantry up` holds a pipe to it on stdin: when `gantry up` dies,
      // even by kill -9, the pipe closes and the agent stops (its containers keep running).
      const lifeline = new AbortController();
      if (process.env.GANTRY_AGENT_LIFELINE === 'stdin') {
        process.stdin.on('end', () => lifeline.abort()).on('close', () => lifeline.abort()).resume();
      }
      const code = await agentCommand({ panel: values.panel, token: values.token, dataDir: values['data-dir'], signal: lifeline.signal });
      process.stdin.destroy(); // a lifeline still being read would keep the process alive
      return code;
    }
    case 'controller': {
      const { values } = parseCliArgs({
        args: rest,
        options: {
          kubeconfig: { type: 'string', default: process.env.GANTRY_KUBECONFIG ?? process.env.KUBECONFIG?.split(':')[0] },
          'data-dir': { type: 'string', default: process.env.GANTRY_DATA_DIR ?? '.gantry-controller' },
          database: { type: 'string', default: process.env.GANTRY_DATABASE_URL },
          events: { type: 'string', default: process.env.GANTRY_EVENTS ?? 'kubernetes' },
          port: { type: 'string', default: process.env.GANTRY_PORT ?? '8080' },
          host: { type: 'string', default: process.env.GANTRY_HOST ?? '0.0.0.0' },
          'probe-port': { type: 'string', default: process.env.GANTRY_PROBE_PORT ?? '8081' },
          'lease-namespace': { type: 'string', default: process.env.GANTRY_LEASE_NAMESPACE },
          'lease-name': { type: 'string', default: process.env.GANTRY_LEASE_NAME ?? 'gantry-controller' },
          identity: { type: 'string', default: process.env.GANTRY_IDENTITY },
          'lease-duration': { type: 'string', default: process.env.GANTRY_LEASE_DURATION ?? '15' },
          'renew-deadline': { type: 'string', default: process.env.GANTRY_RENEW_DEADLINE ?? '10' },
          'retry-period': { type: 'string', default: process.env.GANTRY_RETRY_PERIOD ?? '2' },
          'public-url': { type: 'string', default: process.env.GANTRY_PUBLIC_URL },
          'sftp-port': { type: 'string', default: process.env.GANTRY_SFTP_PORT ?? '2022' },
          'no-sftp': { type: 'boolean' },
        },
      });
      const port = (flag: string, v: string | undefined) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${flag} must be 0-65535, not "${v}"`);
        return n;
      };
      const seconds = (flag: string, v: string | undefined) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new Error(`--${flag} must be a number of seconds from 0 to 3600, not "${v}"`);
        return Math.round(n * 1000);
      };
      if (values.events !== 'kubernetes' && values.events !== 'database') throw new Error(`--events must be kubernetes or database, not "${values.events}"`);
      const { controllerCommand } = await import('./commands/controller.ts');
      return controllerCommand({
        kubeconfig: values.kubeconfig,
        dataDir: values['data-dir'],
        database: values.database,
        events: values.events,
        port: port('port', values.port),
        host: values.host,
        probePort: port('probe-port', values['probe-port']),
        leaseNamespace: values['lease-namespace'],
        leaseName: values['lease-name'],
        identity: values.identity,
        leaseDurationMs: seconds('lease-duration', values['lease-duration']),
        renewDeadlineMs: seconds('renew-deadline', values['renew-deadline']),
        retryPeriodMs: seconds('retry-period', values['retry-period']),
        publicUrl: values['public-url'],
        sftpPort: values['no-sftp'] ? false : port('sftp-port', values['sftp-port']),
      });
    }
    case 'kubeconfig': {
      const { kubeconfigCommand } = await import('./commands/kubeconfig.ts');
      return kubeconfigCommand(rest, io);
    }
    case 'node': {
      const { nodeCommand } = await import('./commands/node.ts');
      return nodeCommand(rest, io);
    }
    case 'login':
    case 'logout':
    case 'whoami': {
      const { loginCommand, logoutCommand, whoamiCommand } = await import('./commands/login.ts');
      return (command === 'login' ? loginCommand : command === 'logout' ? logoutCommand : whoamiCommand)(rest, io);
    }
    case 'version':
    case '--version':
      io.out(GANTRY_VERSION);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return 0;
    default:
      io.err(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // `up` keeps running until a signal; every other command ends here.
    if (code !== undefined) process.exitCode = code;
  },
  (err: Error) => {
    io.err(`error: ${err.message}`);
    process.exitCode = 1;
  },
);
