// The `files.*` RPC methods: server uid (+ optional dataDir) → the server's confined ServerFiles →
// the operation. Refusals are FileErrors whose code travels to the controller unchanged
// (rpc-handlers.ts errorBody), so the API can map them to 4xx and audit them.
import { createLogger, type Logger } from '../../lib/log.ts';
import type { ByteStreams } from '../../lib/byte-streams.ts';
import type { FileRpcMethod, FilesTarget } from '../protocol.ts';
import { resolveDataDir, type RpcHandlers } from '../rpc-handlers.ts';
import { compress, decompress, type ArchiveLimits } from './archive.ts';
import { FileError } from './errors.ts';
import { ServerFiles, DEFAULT_MAX_UPLOAD_BYTES } from './server-files.ts';

/** Text over RPC stays well inside the 4 MiB frame limit even when JSON escaping grows it. */
const RPC_TEXT_MAX_BYTES = 2 * 1024 * 1024;
const RPC_TEXT_MAX_JSON = 3 * 1024 * 1024;
/** Skipped entries listed in a response (the count is exact): keeps the answer inside one frame. */
const MAX_LISTED = 100;

export interface FileHandlersOptions {
  /** DATA_DIR/servers: every data dir lies inside it. */
  serversRoot: string;
  /** The data dir recorded for a server (its container's gantry.dev/data-dir label), if any. */
  dataDirOf: (uid: string) => string | undefined | Promise<string | undefined>;
  streams: ByteStreams;
  /** Upload limit (default 100 MiB); a request may ask for less, never more. */
  maxUploadBytes?: number;
  archiveLimits?: Partial<ArchiveLimits>;
  log?: Logger;
}

export type FileRpcHandlers = Pick<RpcHandlers, FileRpcMethod>;

export function createFileHandlers(o: FileHandlersOptions): FileRpcHandlers {
  const log = o.log ?? createLogger({ component: 'agent.files' });
  const maxUpload = o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;

  const filesOf = async ({ uid, dataDir }: FilesTarget): Promise<ServerFiles> => {
    const recorded = dataDir ?? (await o.dataDirOf(uid));
    if (!recorded) throw new FileError('not_found', `server ${uid} has no container on this node, so its data directory is unknown (pass dataDir)`);
    const root = await resolveDataDir(o.serversRoot, recorded);
    return ServerFiles.open(root, { maxUploadBytes: maxUpload });
  };

  return {
    'files.list': async (p) => (await filesOf(p)).list(p.path),
    'files.stat': async (p) => (await filesOf(p)).stat(p.path),
    'files.read': async (p) => {
      const r = await (await filesOf(p)).readText(p.path, { maxBytes: Math.min(p.maxBytes ?? RPC_TEXT_MAX_BYTES, RPC_TEXT_MAX_BYTES) });
      if (JSON.stringify(r.content).length > RPC_TEXT_MAX_JSON) throw new FileError('too_large', `${p.path} does not fit in one message as text (binary content?); download it instead`);
      return r;
    },
    'files.write': async (p) => (await filesOf(p)).writeText(p.path, p.content, { maxBytes: RPC_TEXT_MAX_BYTES }),
    'files.create': async (p) => (await filesOf(p)).create(p.path, { isDirectory: p.isDirectory, content: p.content }),
    'files.delete': async (p) => {
      const results = await (await filesOf(p)).deleteMany(p.paths);
      const refused = results.filter((r) => !r.ok && r.error && r.error.code !== 'not_found');
      if (refused.length) log.warn('file deletes refused', { uid: p.uid, refused: refused.map((r) => ({ path: r.path, code: r.error!.code })) });
      return { results };
    },
    'files.rename': async (p) => {
      await (await filesOf(p)).rename(p.from, p.to, { overwrite: p.overwrite });
      return {};
    },
    'files.copy': async (p) => {
      await (await filesOf(p)).copy(p.from, p.to);
      return {};
    },
    'files.chmod': async (p) => {
      await (await filesOf(p)).chmod(p.path, p.mode);
      return {};
    },
    'files.compress': async (p) => {
      const r = await compress(await filesOf(p), p.paths, p.destination);
      return { ...r, skipped: r.skipped.slice(0, MAX_LISTED), skippedCount: r.skipped.length };
    },
    'files.decompress': async (p) => {
      const r = await decompress(await filesOf(p), p.archivePath, p.targetPath, o.archiveLimits);
      return { ...r, skipped: r.skipped.slice(0, MAX_LISTED), skippedCount: r.skipped.length };
    },
    'files.download': async (p) => {
      const files = await filesOf(p);
      const { size, mode, mtime, stream } = await files.openRead(p.path);
      // Data frames may overtake the response: the controller registered the stream before asking.
      o.streams.send(p.streamId, stream, { credit: p.window }).catch((err) => {
        stream.destroy();
        log.info('download ended early', { uid: p.uid, path: p.path, streamId: p.streamId, reason: String((err as Error)?.message ?? err) });
      });
      return { size, mode, modified: mtime.toISOString() };
    },
    'files.upload': async (p) => {
      const files = await filesOf(p);
      // The controller sets each caller's limit (the HTTP upload limit, SFTP's); ours is for callers that do not say.
      const limit = p.maxBytes ?? maxUpload;
      // Credit is granted on the first read, i.e. once the temp file is open: a refused path costs no transfer.
      const incoming = o.streams.receive(p.streamId);
      try {
        return await files.writeStream(p.path, incoming, { maxBytes: limit });
      } catch (err) {
        o.streams.abort(p.streamId, err);
        throw err;
      }
    },
  };
}
