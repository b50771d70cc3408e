// `gantry node token NAME [--ttl 1h]`: a one-time deployment token for a GameNode, and the command
// line that enrols the machine with it. Needs node.deploy: the client sends GANTRY_TOKEN or the login.
import { parseCliArgs } from '../args.ts';
import type { DeploymentTokenResponse } from '../../api/routes/nodes.ts';
import { GantryClient, defaultServer } from '../client.ts';
import type { CommandIO } from './resources.ts';

export const NODE_USAGE = `Usage:
  gantry node token NAME [--ttl 1h] [-o json] [--server URL]
      issue a one-time deployment token for the GameNode NAME (shown once) and print the
      \`gantry agent\` command that enrols the machine with it; the node's current agent is
      locked out (its credential is revoked) and unused older tokens stop working`;

export interface NodeTokenOptions {
  /** Duration string (30m, 1h, 7d); the server's default (1h) when omitted. */
  ttl?: string;
  /** 'json' prints the API's data object; anything else the human-readable form. */
  output?: string;
}

/** Calls POST /api/nodes/:name/deployment-token and prints the token, its expiry and the command line. */
export async function nodeToken(client: GantryClient, name: string, opts: NodeTokenOptions, io: CommandIO): Promise<number> {
  const body = opts.ttl !== undefined ? { ttl: opts.ttl } : {};
  const res = await client.request<DeploymentTokenResponse>('POST', `/api/nodes/${encodeURIComponent(name)}/deployment-token`, body);
  const d = res.data;
  if (opts.output === 'json') {
    io.out(JSON.stringify(d, null, 2));
    return 0;
  }
  io.out(`Deployment token for node "${d.nodeName}" (one use, expires ${d.expiresAt}):`);
  io.out('');
  io.out(`  ${d.deploymentToken}`);
  io.out('');
  io.out('Run this on the node to enrol it (the token is exchanged for a node credential kept in the agent\'s data dir):');
  io.out('');
  io.out(`  ${d.command}`);
  io.out('');
  io.out('The token is shown only this once. Any agent this node had is now locked out until it enrols again.');
  return 0;
}

/** `gantry node SUBCOMMAND ...` (argv after "node"). */
export async function nodeCommand(argv: string[], io: CommandIO, server = defaultServer()): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'token') {
    io.err(sub === undefined ? NODE_USAGE : `unknown node subcommand "${sub}"\n\n${NODE_USAGE}`);
    return 2;
  }
  const { values, positionals } = parseCliArgs({
    args: rest,
    allowPositionals: true,
    options: {
      server: { type: 'string', default: server },
      ttl: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  });
  if (positionals.length !== 1) {
    io.err(`gantry node token needs exactly one node NAME\n\n${NODE_USAGE}`);
    return 2;
  }
  return nodeToken(new GantryClient(values.server), positionals[0]!, { ttl: values.ttl, output: values.output }, io);
}
