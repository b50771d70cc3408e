// The controller's end of file transfers with an agent: `hub.files.download/upload` move file bytes
// over the agent's WebSocket as flow-controlled byte streams (lib/byte-streams.ts), with bounded
// memory on both sides; every other file operation is a plain `hub.call(node, 'files.*', …)`.
// `relayData` moves a server's data dir from one agent to another through the controller (a stream
// in from the source relayed as a stream out to the target), so nodes never need to reach each other.
//
// Streams belong to one agent connection: ids are allocated here (the controller opens every stream)
// and a connection that closes fails its streams. Errors are the hub's RPC errors (AgentRpcError with
// the agent's code: path_escape, symlink_escape, too_large, …) or StreamError for transport failures.
import type { Readable } from 'node:stream';
import { ByteStreams, DEFAULT_STREAM_WINDOW, StreamError, type StreamControl } from '../../../lib/byte-streams.ts';
import type { RpcResults, TransferReceiveResult, TransferSendResult, TransferTarget } from '../../../agent/protocol.ts';
import type { AgentHub } from '../agent-hub.ts';
import { NodeNotConnectedError } from '../errors.ts';

/** What the hub hands byte-stream traffic to. */
export interface StreamSink {
  onData(connId: number, frame: Buffer): void;
  onControl(connId: number, msg: StreamControl): void;
  onClosed(connId: number, why: string): void;
}

/** One agent connection's raw senders (AgentHub.streamChannel). */
export interface StreamChannel {
  connId: number;
  control(msg: StreamControl): boolean;
  data(frame: Buffer, written?: (err?: Error | null) => void): boolean;
}

export interface HubFilesOptions {
  /** Bytes in flight per stream (default 4 MiB). */
  window?: number;
  /** An upload's RPC gives up after this long (default 1 h); downloads answer at once. */
  uploadTimeoutMs?: number;
}

export interface TransferOptions {
  /** The server's data dir as in ContainerSpec.dataDir, for a server without a container yet. */
  dataDir?: string;
  timeoutMs?: number;
}

/** A data dir to move between two nodes (agent/transfers/). */
export interface DataRelay extends TransferTarget {
  source: string;
  target: string;
}

/**
 * A relay that failed, blamed on the side where it started (the first failure the controller saw: the
 * source's stream or call, the target's, or a cancel), with that side's own error.
 */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  constructor(readonly side: 'source' | 'target' | 'cancelled', readonly nodeName: string | undefined, readonly code: string, message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** How long a failed relay waits for both agents to answer (they clean up first) before giving up on them. */
const RELAY_SETTLE_MS = 60_000;

export class HubFiles implements StreamSink {
  private readonly byConn = new Map<number, ByteStreams>();
  private seq = 0;
  private readonly window: number;
  private readonly uploadTimeoutMs: number;

  constructor(private readonly hub: AgentHub, opts: HubFilesOptions = {}) {
    this.window = opts.window ?? DEFAULT_STREAM_WINDOW;
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? 3_600_000;
  }

  /** Streams open across all connections (tests, metrics). */
  get active(): number {
    let n = 0;
    for (const s of this.byConn.values()) n += s.active;
    return n;
  }

  /**
   * A file of a server as a stream. Resolves once the agent has opened the file (refusals reject
   * here); the stream then delivers the bytes, at most `window` ahead of the consumer. Destroying the
   * stream stops the transfer on the agent.
   */
  async download(node: string, serverUid: string, path: string, opts: TransferOptions = {}): Promise<RpcResults['files.download'] & { stream: Readable }> {
    const streams = this.streamsOf(node, 'files.download');
    const id = this.nextId();
    const stream = streams.receive(id, { granted: streams.window });
    try {
      const r = await this.hub.call(node, 'files.download', { uid: serverUid, path, streamId: id, window: streams.window, ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) }, { timeoutMs: opts.timeoutMs });
      return { ...r, stream };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /**
   * A finished backup archive (DATA/backups/<serverUid>/<backupUid>.tar.gz on the node) as a stream;
   * like download(), refusals (not_found) reject before any byte flows.
   */
  async downloadBackup(node: string, serverUid: string, backupUid: string, opts: { timeoutMs?: number } = {}): Promise<RpcResults['backup.download'] & { stream: Readable }> {
    const streams = this.streamsOf(node, 'backup.download');
    const id = this.nextId();
    const stream = streams.receive(id, { granted: streams.window });
    try {
      const r = await this.hub.call(node, 'backup.download', { serverUid, backupUid, streamId: id, window: streams.window }, { timeoutMs: opts.timeoutMs });
      return { ...r, stream };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /**
   * Writes `source` to a server's file (atomically: a failed upload leaves nothing). `maxBytes` is
   * checked here as the bytes go (the agent also enforces its own limit, 100 MiB by default).
   */
  async upload(node: string, serverUid: string, path: string, source: Readable | AsyncIterable<Uint8Array>, opts: TransferOptions & { maxBytes?: number } = {}): Promise<{ size: number }> {
    const streams = this.streamsOf(node, 'files.upload');
    const id = this.nextId();
    const call = this.hub.call(
      node,
      'files.upload',
      { uid: serverUid, path, streamId: id, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}), ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) },
      { timeoutMs: opts.timeoutMs ?? this.uploadTimeoutMs },
    );
    const sending = streams.send(id, source, { credit: 0, maxBytes: opts.maxBytes });
    // Whichever fails first ends both: the agent refusing (bad path, too large, disk full) stops the
    // sending at once; the source failing (client gone, over maxBytes) aborts the agent's write.
    const sendFailed = sending.then(() => new Promise<never>(() => {}));
    try {
      const r = await Promise.race([call, sendFailed]);
      await sending;
      return r;
    } catch (err) {
      streams.abort(id, err);
      sending.catch(() => {});
      // The agent answers once its temp file is gone; wait for that (briefly) so a caller that looks
      // right after the refusal sees a clean directory.
      await Promise.race([call.catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
      throw err;
    }
  }

  /**
   * Streams the source's data dir (transfer.send) into the target's staging dir (transfer.receive),
   * relayed here with each side's flow control: the source sends no faster than the target extracts,
   * and memory stays bounded by the two windows. Resolves once the target has staged everything, with
   * both sides' counts and sha256 (the caller compares them and commits). Rejects with a RelayError
   * after both agents have answered (a failed target has removed its staging dir by then) or after
   * RELAY_SETTLE_MS. `signal` cancels: both streams are aborted.
   */
  async relayData(r: DataRelay, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ sent: TransferSendResult; received: TransferReceiveResult }> {
    const streamsAt = (side: 'source' | 'target', node: string, method: 'transfer.send' | 'transfer.receive') => {
      try {
        return this.streamsOf(node, method);
      } catch (err) {
        throw new RelayError(side, node, (err as { code?: string }).code ?? 'not_connected', (err as Error).message, err);
      }
    };
    const from = streamsAt('source', r.source, 'transfer.send');
    const to = streamsAt('target', r.target, 'transfer.receive');
    const inId = this.nextId();
    const outId = this.nextId();
    const base: TransferTarget = { uid: r.uid, transferId: r.transferId, dataDir: r.dataDir };
    const incoming = from.receive(inId, { granted: from.window });
    let cause: { side: RelayError['side']; err: unknown } | undefined;
    let onFailure!: () => void;
    const failed = new Promise<void>((resolve) => (onFailure = resolve));
    const blame = (side: RelayError['side'], err: unknown) => {
      if (cause) return;
      cause = { side, err };
      from.abort(inId, err);
      to.abort(outId, err);
      onFailure();
    };
    incoming.once('error', (err) => blame('source', err));
    const receiving = this.hub.call(r.target, 'transfer.receive', { ...base, streamId: outId }, { timeoutMs: opts.timeoutMs });
    const relaying = to.send(outId, incoming, { credit: 0 });
    const sending = this.hub.call(r.source, 'transfer.send', { ...base, streamId: inId, window: from.window }, { timeoutMs: opts.timeoutMs });
    receiving.catch((err) => blame('target', err));
    sending.catch((err) => blame('source', err));
    // The outgoing stream also fails when the incoming one did (it reads from it): that is the source's doing.
    relaying.catch((err) => blame(incoming.errored ? 'source' : 'target', err));
    const onAbort = () => blame('cancelled', new StreamError('cancelled', 'the transfer was cancelled'));
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const all = Promise.allSettled([sending, receiving, relaying]);
      await Promise.race([all, failed]);
      if (!cause) {
        const [s, t] = await all;
        if (s.status === 'fulfilled' && t.status === 'fulfilled') return { sent: s.value, received: t.value };
      }
      // Failed: both agents answer once they have cleaned up (a target removes its staging dir first).
      const settled = await Promise.race([all, new Promise<undefined>((ok) => setTimeout(() => ok(undefined), RELAY_SETTLE_MS).unref())]);
      const c = cause!;
      // The side's own answer says more than the stream error that carried it here.
      const own = c.side === 'source' ? settled?.[0] : c.side === 'target' ? settled?.[1] : undefined;
      const err = own?.status === 'rejected' ? own.reason : c.err;
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'failed';
      const node = c.side === 'source' ? r.source : c.side === 'target' ? r.target : undefined;
      throw new RelayError(c.side, node, code, (err as Error)?.message ?? String(err), err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  // ---- StreamSink (called by the hub) -----------------------------------------------------------

  onData(connId: number, frame: Buffer): void {
    this.byConn.get(connId)?.onData(frame);
  }

  onControl(connId: number, msg: StreamControl): void {
    this.byConn.get(connId)?.onControl(msg);
  }

  onClosed(connId: number, why: string): void {
    const s = this.byConn.get(connId);
    if (!s) return;
    this.byConn.delete(connId);
    s.closeAll(why);
  }

  private streamsOf(node: string, method: 'files.download' | 'files.upload' | 'backup.download' | 'transfer.send' | 'transfer.receive'): ByteStreams {
    const ch = this.hub.streamChannel(node);
    if (!ch) throw new NodeNotConnectedError(node, method);
    let s = this.byConn.get(ch.connId);
    if (!s) {
      s = new ByteStreams({ control: ch.control, data: ch.data }, { window: this.window });
      this.byConn.set(ch.connId, s);
    }
    return s;
  }

  private nextId(): number {
    this.seq = (this.seq % 0xfffffffe) + 1;
    return this.seq;
  }
}
