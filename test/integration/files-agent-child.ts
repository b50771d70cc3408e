// A file-serving agent process for files-hub.test.ts: the agent's real connection, RPC dispatcher,
// file handlers and byte streams, wired as agent/agent.ts wires them, without Docker (servers are
// addressed by dataDir). Env: PANEL, CREDENTIAL, SERVERS_ROOT, MAX_UPLOAD_BYTES. Prints "ready".
import { AgentConnection } from '../../agent/connection.ts';
import { createFileHandlers } from '../../agent/files/handlers.ts';
import { RpcDispatcher } from '../../agent/rpc-handlers.ts';
import type { HealthReport } from '../../agent/runtime/health.ts';
import { ByteStreams } from '../../lib/byte-streams.ts';
import { createLogger } from '../../lib/log.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const log = createLogger({ component: 'files-agent-child' }, 'warn');
// eslint-disable-next-line prefer-const
let conn: AgentConnection;
const streams = new ByteStreams({ control: (m) => conn.sendStreamControl(m), data: (f, written) => conn.sendStreamData(f, written) });
const rpc = new RpcDispatcher({
  log,
  handlers: createFileHandlers({
    serversRoot: env('SERVERS_ROOT'),
    dataDirOf: () => undefined,
    streams,
    maxUploadBytes: process.env.MAX_UPLOAD_BYTES ? Number(process.env.MAX_UPLOAD_BYTES) : undefined,
    log,
  }),
});
conn = new AgentConnection({
  panel: env('PANEL'),
  credential: env('CREDENTIAL'),
  log,
  health: async () => ({ time: new Date().toISOString(), agentVersion: '0.1.0-test' }) as unknown as HealthReport,
  onRequest: (req) => rpc.dispatch(req),
  onStreamData: (f) => streams.onData(f),
  onStreamControl: (m) => streams.onControl(m),
});
conn.on('disconnected', ({ reason }) => streams.closeAll(reason));
conn.on('ready', () => process.stdout.write('ready\n'));
conn.start();
process.on('SIGTERM', () => {
  conn.close();
  process.exit(0);
});
