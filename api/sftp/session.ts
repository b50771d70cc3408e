// One SFTP channel of an authenticated connection, chrooted to one server's data directory.
//
// Nothing here touches a disk: every operation is a `files.*` RPC (or a HubFiles byte stream) to the
// server's node, whose agent/files/ does all confinement (symlinks, races, `..`). What this layer adds
// is SFTP's shape (handles, offsets, status codes) and authorisation *per operation*: the user, their
// session and grants are read again for every request, and the GameServer at most `serverCacheMs` old,
// so a subuser whose grant is revoked is refused on the next packet, not at the next login.
import type { Attributes, FileEntry as WireEntry, SFTPWrapper } from 'ssh2';
import type { Readable } from 'node:stream';
import type { GameServer } from '../../crds/types.ts';
import type { FileEntry } from '../../agent/protocol.ts';
import type { FileRpcMethod, RpcParams, RpcResults } from '../../agent/protocol.ts';
import type { AgentHub } from '../../controller/hub/agent-hub.ts';
import type { Logger } from '../../lib/log.ts';
import type { ApiServices } from '../http/services.ts';
import type { Principal } from '../rbac/access.ts';
import { authorizeOnServer, revalidate } from '../rbac/authorize.ts';
import { ChunkFeed, StreamReader } from './streams.ts';

/** SFTP is how worlds of many GB move: bounded by the node's disk, not by the HTTP upload limit. */
export const SFTP_MAX_UPLOAD_BYTES = 1024 ** 4;
import { attrsOf, linkTargetPath, longnameOf, opPath, parentOf, realPath, STATUS, statusOfCode, type SftpStatus } from './paths.ts';
import { dataDirOf, dataNode, isMoving } from '../../crds/placement.ts';

/** Who logged in, and into which server (fixed for the connection's life). */
export interface SftpIdentity {
  userId: string;
  username: string;
  email: string;
  /** Set for token logins: the session must stay active (logout ends SFTP too). */
  sessionId?: string;
  via: 'token' | 'password';
  serverId: string;
  /** The server logged into: a server created later under the same name is another one. */
  serverUid: string;
  ip: string;
}

/** A refusal with its SFTP status; PERMISSION_DENIED ones are audited. */
export class SftpRefusal extends Error {
  override readonly name = 'SftpRefusal';
  constructor(
    readonly status: SftpStatus,
    message: string,
    readonly reason = 'refused',
  ) {
    super(message);
  }
}

const OPEN = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 };
const MAX_HANDLES = 64;
/** OpenSSH asks for 32 KiB per READ unless the server offers more (limits@openssh.com, which ssh2 does not). */
const MAX_READ = 32 * 1024;
/** A forward seek within this distance is served by skipping bytes rather than reopening the file. */
const SKIP_LIMIT = 4 * 1024 * 1024;
const MAX_LINK_HOPS = 16;

interface Target {
  server: GameServer;
  node: string;
  uid: string;
  dataDir: string;
}

interface ReadHandle {
  kind: 'read';
  path: string;
  reader: StreamReader;
  size: number;
  mode: number;
  modified: string;
  chain: Promise<unknown>;
}
interface WriteHandle {
  kind: 'write';
  path: string;
  feed: ChunkFeed;
  upload: Promise<{ size: number }>;
  pos: number;
  mode?: number;
  chain: Promise<unknown>;
}
interface DirHandle {
  kind: 'dir';
  path: string;
  entries: FileEntry[];
  next: number;
  chain: Promise<unknown>;
}
type Handle = ReadHandle | WriteHandle | DirHandle;

export interface SftpSessionDeps {
  svc: ApiServices;
  hub: AgentHub;
  log: Logger;
  identity: SftpIdentity;
  /** How long a fetched GameServer is trusted (suspension, owner, node); grants are always live. */
  serverCacheMs: number;
  /** Ends the whole connection (user deleted, session revoked, server gone). */
  terminate: (reason: string) => void;
}

/** How an account change ends the connection: [log reason, the client's message]. */
const SESSION_GONE: Record<'user_gone' | 'user_disabled' | 'session_revoked' | 'key_revoked', [string, string]> = {
  user_gone: ['user deleted', 'account deleted'],
  user_disabled: ['user disabled', 'account disabled'],
  session_revoked: ['session ended', 'your panel session ended (logged out or revoked): log in again'],
  key_revoked: ['session ended', 'your panel session ended (logged out or revoked): log in again'],
};

export class SftpSession {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private cached: { server: GameServer | undefined; at: number } | undefined;
  private closed = false;
  private readonly id: SftpIdentity;

  constructor(
    private readonly d: SftpSessionDeps,
    private readonly sftp: SFTPWrapper,
  ) {
    this.id = d.identity;
    this.wire();
  }

  /** Drops every handle: open uploads fail (nothing is written), downloads stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handles.values()) this.dropHandle(h, new Error('SFTP session closed before the file was'));
    this.handles.clear();
  }

  // ---- wiring ----------------------------------------------------------------------------------

  private wire(): void {
    const s = this.sftp;
    // ssh2 emits each request with its own argument list; the first argument names the target.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    type Args = any[];
    const on = (op: string, pathOf: (first: never) => string | undefined, fn: (reqid: number, ...a: Args) => Promise<void>) => {
      s.on(op as 'OPEN', ((reqid: number, ...a: Args) => {
        fn(reqid, ...a).catch((err) => this.fail(reqid, op, pathOf(a[0] as never), err));
      }) as never);
    };
    const h = (buf: Buffer) => this.handleOf(buf)?.path;

    on('REALPATH', (p: string) => p, async (reqid, p) => {
      await this.authorize('file.read');
      const r = realPath(p);
      s.name(reqid, [{ filename: r, longname: r, attrs: {} as Attributes }]);
    });
    on('STAT', (p: string) => p, async (reqid, p) => {
      const t = await this.authorize('file.read');
      s.attrs(reqid, attrsOf(await this.statFollow(t, opPath(p))) as Attributes);
    });
    on('LSTAT', (p: string) => p, async (reqid, p) => {
      const t = await this.authorize('file.read');
      s.attrs(reqid, attrsOf(await this.rpc(t, 'files.stat', { path: opPath(p) })) as Attributes);
    });
    on('FSTAT', h, async (reqid, buf: Buffer) => {
      const hd = this.requireHandle(buf);
      const t = await this.authorize('file.read');
      if (hd.kind === 'read') s.attrs(reqid, attrsOf({ type: 'file', mode: hd.mode, size: hd.size, modified: hd.modified }) as Attributes);
      else if (hd.kind === 'write') s.attrs(reqid, attrsOf({ type: 'file', mode: hd.mode ?? 0o644, size: hd.pos, modified: new Date().toISOString() }) as Attributes);
      else s.attrs(reqid, attrsOf(await this.rpc(t, 'files.stat', { path: hd.path })) as Attributes);
    });
    on('OPEN', (p: string) => p, async (reqid, p: string, flags: number, attrs: Attributes) => this.open(reqid, p, flags, attrs));
    on('READ', h, async (reqid, buf: Buffer, offset: number, length: number) => {
      const hd = this.requireHandle(buf, 'read');
      await this.serial(hd, async () => {
        const t = await this.authorize('file.read');
        const data = await this.readAt(t, hd, offset, Math.min(length, MAX_READ));
        if (data.length === 0) s.status(reqid, STATUS.EOF);
        else s.data(reqid, data);
      });
    });
    on('WRITE', h, async (reqid, buf: Buffer, offset: number, data: Buffer) => {
      const hd = this.requireHandle(buf, 'write');
      await this.serial(hd, async () => {
        if (hd.feed.failed) throw hd.feed.failed;
        try {
          await this.authorize('file.write');
          if (offset !== hd.pos) {
            throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${hd.path}: write at offset ${offset}, expected ${hd.pos}: uploads are streamed in order and replace the file whole (no random-access or resumed writes); the upload is cancelled`, 'unsupported');
          }
        } catch (err) {
          hd.feed.fail(err as Error); // an interrupted upload leaves nothing behind
          throw err;
        }
        hd.pos += data.length;
        await hd.feed.push(Buffer.from(data));
        s.status(reqid, STATUS.OK);
      });
    });
    on('CLOSE', h, async (reqid, buf: Buffer) => this.closeHandle(reqid, buf));
    on('OPENDIR', (p: string) => p, async (reqid, p: string) => {
      const t = await this.authorize('file.read');
      const path = opPath(p);
      const r = await this.rpc(t, 'files.list', { path });
      s.handle(reqid, this.addHandle({ kind: 'dir', path, entries: r.entries, next: 0, chain: Promise.resolve() }));
    });
    on('READDIR', h, async (reqid, buf: Buffer) => {
      const hd = this.requireHandle(buf, 'dir');
      await this.authorize('file.read');
      if (hd.next >= hd.entries.length) return s.status(reqid, STATUS.EOF);
      // Keep one NAME packet well under ssh2's 34 000-byte outgoing packet size.
      const out: WireEntry[] = [];
      let bytes = 0;
      while (hd.next < hd.entries.length && out.length < 100) {
        const e = hd.entries[hd.next]!;
        const longname = longnameOf(e);
        const size = Buffer.byteLength(e.name) + Buffer.byteLength(longname) + 48;
        if (out.length > 0 && bytes + size > 30_000) break;
        out.push({ filename: e.name, longname, attrs: attrsOf(e) as Attributes });
        bytes += size;
        hd.next++;
      }
      s.name(reqid, out);
    });
    on('SETSTAT', (p: string) => p, async (reqid, p: string, attrs: Attributes) => {
      await this.setstat(opPath(p), attrs);
      s.status(reqid, STATUS.OK);
    });
    on('FSETSTAT', h, async (reqid, buf: Buffer, attrs: Attributes) => {
      const hd = this.requireHandle(buf);
      if (hd.kind === 'write') {
        await this.authorize('file.write');
        checkSettable(hd.path, attrs);
        // The file does not exist until CLOSE; the mode is applied then.
        if (attrs.mode !== undefined) hd.mode = Number(attrs.mode) & 0o777;
      } else await this.setstat(hd.path, attrs);
      s.status(reqid, STATUS.OK);
    });
    on('MKDIR', (p: string) => p, async (reqid, p: string) => {
      const t = await this.authorize('file.write');
      const path = opPath(p);
      await this.rpc(t, 'files.create', { path, isDirectory: true });
      await this.audit('sftp.write', 200, { op: 'mkdir', path });
      s.status(reqid, STATUS.OK);
    });
    on('RMDIR', (p: string) => p, async (reqid, p: string) => {
      const t = await this.authorize('file.delete');
      const path = opPath(p);
      const e = await this.rpc(t, 'files.stat', { path });
      if (e.type !== 'directory') throw new SftpRefusal(STATUS.FAILURE, `${path} is not a directory`);
      if ((await this.rpc(t, 'files.list', { path })).entries.length > 0) throw new SftpRefusal(STATUS.FAILURE, `${path}: directory not empty`);
      await this.remove(t, path);
      s.status(reqid, STATUS.OK);
    });
    on('REMOVE', (p: string) => p, async (reqid, p: string) => {
      const t = await this.authorize('file.delete');
      const path = opPath(p);
      // The agent's delete is recursive; SFTP's REMOVE is for files only (rm on a directory must fail).
      const e = await this.rpc(t, 'files.stat', { path });
      if (e.type === 'directory') throw new SftpRefusal(STATUS.FAILURE, `${path} is a directory (use rmdir)`);
      await this.remove(t, path);
      s.status(reqid, STATUS.OK);
    });
    on('RENAME', (from: string) => from, async (reqid, from: string, to: string) => {
      const t = await this.authorize('file.write');
      const a = opPath(from);
      const b = opPath(to);
      // SFTP v3 RENAME never replaces an existing name.
      await this.rpc(t, 'files.rename', { from: a, to: b, overwrite: false });
      await this.audit('sftp.rename', 200, { from: a, to: b });
      s.status(reqid, STATUS.OK);
    });
    on('READLINK', (p: string) => p, async (reqid, p: string) => {
      const t = await this.authorize('file.read');
      const e = await this.rpc(t, 'files.stat', { path: opPath(p) });
      if (e.type !== 'symlink' || e.target === undefined) throw new SftpRefusal(STATUS.FAILURE, `${opPath(p)} is not a symlink`);
      s.name(reqid, [{ filename: e.target, longname: e.target, attrs: {} as Attributes }]);
    });
    on('SYMLINK', (p: string) => p, async () => {
      throw new SftpRefusal(STATUS.OP_UNSUPPORTED, 'creating symlinks over SFTP is not supported');
    });
    on('EXTENDED', () => undefined, async (_reqid, name: string) => {
      throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `extension ${name} is not supported`);
    });
  }

  // ---- operations ------------------------------------------------------------------------------

  private async open(reqid: number, p: string, flags: number, attrs: Attributes): Promise<void> {
    const path = opPath(p);
    if (this.handles.size >= MAX_HANDLES) throw new SftpRefusal(STATUS.FAILURE, `too many open handles (at most ${MAX_HANDLES} per session)`);
    if (!(flags & OPEN.WRITE)) {
      const t = await this.authorize('file.read');
      const dl = await this.d.hub.files.download(t.node, t.uid, path, { dataDir: t.dataDir });
      const handle = this.addHandle({ kind: 'read', path, reader: new StreamReader(dl.stream as Readable), size: dl.size, mode: dl.mode, modified: dl.modified, chain: Promise.resolve() });
      this.sftp.handle(reqid, handle);
      return;
    }
    const t = await this.authorize('file.write');
    if (flags & OPEN.READ) throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${path}: opening for read and write at once is not supported (files are replaced whole on upload)`, 'unsupported');
    if (flags & OPEN.APPEND) throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${path}: appending is not supported (files are replaced whole on upload)`, 'unsupported');
    // SFTP never creates parent directories (the agent's upload would): the parent must exist.
    const parent = await this.statFollow(t, parentOf(path)).catch((err) => {
      throw statusOf(err) === STATUS.NO_SUCH_FILE ? new SftpRefusal(STATUS.NO_SUCH_FILE, `${parentOf(path)}: no such directory`) : err;
    });
    if (parent.type !== 'directory') throw new SftpRefusal(STATUS.NO_SUCH_FILE, `${parentOf(path)} is not a directory`);
    const existing = await this.rpc(t, 'files.stat', { path }).catch((err) => (statusOf(err) === STATUS.NO_SUCH_FILE ? undefined : Promise.reject(err)));
    if (existing?.type === 'directory') throw new SftpRefusal(STATUS.FAILURE, `${path} is a directory`);
    if (existing?.type === 'symlink') {
      // Written through only when it resolves inside; say no at OPEN rather than at the first WRITE.
      await this.statFollow(t, path).catch((err) => {
        throw statusOf(err) === STATUS.NO_SUCH_FILE ? new SftpRefusal(STATUS.PERMISSION_DENIED, `${path} is a dangling symlink, never written through`, 'symlink_escape') : err;
      });
    }
    if (existing && flags & OPEN.EXCL) throw new SftpRefusal(STATUS.FAILURE, `${path} already exists`);
    if (!existing && !(flags & OPEN.CREAT)) throw new SftpRefusal(STATUS.NO_SUCH_FILE, `${path}: no such file`);
    if (existing && existing.size > 0 && !(flags & OPEN.TRUNC)) {
      throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${path}: changing a file in place is not supported; open it with truncate (files are replaced whole on upload)`, 'unsupported');
    }
    const feed = new ChunkFeed();
    const upload = this.d.hub.files.upload(t.node, t.uid, path, feed, { dataDir: t.dataDir, maxBytes: SFTP_MAX_UPLOAD_BYTES });
    // A refusal from the node (escape, no space, too large) fails the next WRITE with its reason.
    upload.catch((err) => feed.fail(err as Error));
    const mode = !existing && attrs?.mode !== undefined ? Number(attrs.mode) & 0o777 : undefined;
    this.sftp.handle(reqid, this.addHandle({ kind: 'write', path, feed, upload, pos: 0, mode, chain: Promise.resolve() }));
  }

  private async closeHandle(reqid: number, buf: Buffer): Promise<void> {
    const hd = this.requireHandle(buf);
    await this.serial(hd, async () => {
      this.handles.delete(buf.readUInt32BE(0));
      if (hd.kind === 'read') hd.reader.close();
      if (hd.kind !== 'write') return this.sftp.status(reqid, STATUS.OK);
      hd.feed.end();
      const { size } = await hd.upload;
      if (hd.mode !== undefined && hd.mode !== 0o644) {
        const t = await this.authorize('file.write');
        await this.rpc(t, 'files.chmod', { path: hd.path, mode: hd.mode });
      }
      await this.audit('sftp.write', 200, { op: 'upload', path: hd.path, size });
      this.sftp.status(reqid, STATUS.OK);
    });
  }

  /** Serves READs from one download stream, reopening it when the client seeks backwards or far ahead. */
  private async readAt(t: Target, hd: ReadHandle, offset: number, length: number): Promise<Buffer> {
    if (offset !== hd.reader.pos) {
      if (offset > hd.reader.pos && offset - hd.reader.pos <= SKIP_LIMIT) await hd.reader.skip(offset - hd.reader.pos);
      else {
        hd.reader.close();
        const dl = await this.d.hub.files.download(t.node, t.uid, hd.path, { dataDir: t.dataDir });
        hd.reader = new StreamReader(dl.stream as Readable);
        hd.size = dl.size;
        await hd.reader.skip(offset);
      }
      if (hd.reader.pos !== offset) return Buffer.alloc(0); // past the end
    }
    return hd.reader.take(length);
  }

  private async setstat(path: string, attrs: Attributes): Promise<void> {
    const t = await this.authorize('file.write');
    checkSettable(path, attrs);
    if (attrs.mode === undefined) return; // times are accepted and ignored (the node keeps its own)
    const mode = Number(attrs.mode) & 0o777;
    // The agent's chmod goes through an O_NOFOLLOW fd and refuses symlinks: a link is never followed.
    await this.rpc(t, 'files.chmod', { path, mode });
    await this.audit('sftp.write', 200, { op: 'chmod', path, mode: mode.toString(8) });
  }

  private async remove(t: Target, path: string): Promise<void> {
    const r = await this.rpc(t, 'files.delete', { paths: [path] });
    const res = r.results[0];
    if (res && !res.ok) {
      const code = res.error?.code;
      throw new SftpRefusal(statusOfCode(code), res.error?.message ?? `${path}: cannot delete`, code ?? 'failed');
    }
    await this.audit('sftp.delete', 200, { path });
  }

  /** stat that follows symlinks resolving inside the root; a link leaving it is refused. */
  private async statFollow(t: Target, path: string): Promise<FileEntry> {
    let p = path;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const e = await this.rpc(t, 'files.stat', { path: p });
      if (e.type !== 'symlink') return e;
      const next = linkTargetPath(p, e.target ?? '');
      if (next === undefined) throw new SftpRefusal(STATUS.PERMISSION_DENIED, `${path} is a symlink pointing outside the server's directory`, 'symlink_escape');
      p = next;
    }
    throw new SftpRefusal(STATUS.FAILURE, `${path}: too many levels of symlinks`);
  }

  // ---- authorisation ---------------------------------------------------------------------------

  /**
   * Re-reads who the caller is and what they may do now. A deleted or disabled user, or an ended
   * session, ends the connection; a missing permission, a suspended server or an offline node refuse
   * this one operation.
   */
  private async authorize(permission: string): Promise<Target> {
    const { accounts, access } = this.d.svc;
    const claimed: Principal = { userId: this.id.userId, username: this.id.username, email: this.id.email, via: this.id.via === 'token' ? 'token' : 'session', sessionId: this.id.sessionId, grants: [] };
    const still = revalidate(accounts, claimed, Date.now());
    if (!still.ok) {
      const [why, message] = SESSION_GONE[still.code];
      this.d.terminate(why);
      throw new SftpRefusal(STATUS.PERMISSION_DENIED, message, still.code === 'session_revoked' ? 'session_revoked' : 'user_gone');
    }
    const server = await this.server();
    if (!server || server.metadata.uid !== this.id.serverUid) {
      this.d.terminate('server deleted');
      throw new SftpRefusal(STATUS.NO_SUCH_FILE, `server ${this.id.serverId} no longer exists`, 'server_gone');
    }
    const verdict = authorizeOnServer(access, still.principal, server, permission, { refuseSuspended: true });
    if (verdict.outcome === 'not_found' || verdict.outcome === 'forbidden') throw new SftpRefusal(STATUS.PERMISSION_DENIED, `permission denied: requires ${permission} on server ${this.id.serverId}`, 'missing_permission');
    if (verdict.outcome === 'suspended') throw new SftpRefusal(STATUS.PERMISSION_DENIED, `server ${this.id.serverId} is suspended`, 'suspended');
    if (permission !== 'file.read' && isMoving(server)) throw new SftpRefusal(STATUS.PERMISSION_DENIED, `server ${this.id.serverId} is being moved to another node: its files can be read but not changed until the transfer ends`, 'transfer_in_progress');
    const node = dataNode(server);
    if (!node || !this.d.hub.isConnected(node)) throw new SftpRefusal(STATUS.FAILURE, node ? `node ${node} of server ${this.id.serverId} is offline` : `server ${this.id.serverId} is not placed on a node`, 'node_offline');
    return { server, node, uid: server.metadata.uid!, dataDir: dataDirOf(server) };
  }

  private async server(): Promise<GameServer | undefined> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < this.d.serverCacheMs) return this.cached.server;
    const server = await this.d.svc.servers.find(this.id.serverId);
    this.cached = { server, at: now };
    return server;
  }

  // ---- plumbing --------------------------------------------------------------------------------

  private rpc<M extends FileRpcMethod>(t: Target, method: M, params: Omit<RpcParams[M], 'uid' | 'dataDir'>): Promise<RpcResults[M]> {
    return this.d.hub.call(t.node, method, { uid: t.uid, dataDir: t.dataDir, ...params } as RpcParams[M]);
  }

  private addHandle(h: Handle): Buffer {
    const n = this.nextHandle++;
    this.handles.set(n, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(n, 0);
    return buf;
  }

  private handleOf(buf: Buffer): Handle | undefined {
    return buf.length === 4 ? this.handles.get(buf.readUInt32BE(0)) : undefined;
  }

  private requireHandle<K extends Handle['kind']>(buf: Buffer, kind?: K): Extract<Handle, { kind: K }> {
    const h = this.handleOf(buf);
    if (!h) throw new SftpRefusal(STATUS.FAILURE, 'invalid handle (closed or never opened)');
    if (kind && h.kind !== kind) throw new SftpRefusal(STATUS.FAILURE, `handle of ${h.path} is not open for ${kind === 'dir' ? 'directory reading' : kind}ing`);
    return h as Extract<Handle, { kind: K }>;
  }

  /** Requests on one handle run in arrival order (READs and WRITEs are offset-sequential streams). */
  private serial<T>(h: Handle, fn: () => Promise<T>): Promise<T> {
    const run = h.chain.then(fn, fn);
    h.chain = run.catch(() => undefined);
    return run;
  }

  private dropHandle(h: Handle, why: Error): void {
    if (h.kind === 'read') h.reader.close();
    else if (h.kind === 'write') {
      h.feed.fail(why);
      h.upload.catch(() => undefined);
    }
  }

  private fail(reqid: number, op: string, path: string | undefined, err: unknown): void {
    const status = statusOf(err);
    const message = messageOf(err);
    const reason = (err as { reason?: string } | undefined)?.reason ?? (err as { code?: string } | undefined)?.code ?? 'failed';
    if (status === STATUS.FAILURE && !(err instanceof SftpRefusal) && !(err as { code?: string } | undefined)?.code) {
      this.d.log.error('sftp operation failed', { err, op, path, serverId: this.id.serverId, user: this.id.username });
    }
    if (status === STATUS.PERMISSION_DENIED) void this.audit('sftp.refused', 403, { op, path, reason, message });
    if (this.closed) return;
    try {
      this.sftp.status(reqid, status, message);
    } catch {
      // the channel closed meanwhile
    }
  }

  private audit(action: string, status: number, metadata: Record<string, unknown>): Promise<void> {
    return this.d.svc.audit.record({ userId: this.id.userId, username: this.id.username, action, resourceType: 'server', resourceId: this.id.serverId, resourceUid: this.id.serverUid, status, metadata: { via: 'sftp', ...metadata }, ipAddress: this.id.ip, facade: 'sftp' });
  }
}

function checkSettable(path: string, attrs: Attributes): void {
  const a = attrs as Partial<Attributes>;
  if (a.size !== undefined) throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${path}: truncating through setstat is not supported (upload the file again)`, 'unsupported');
  if (a.uid !== undefined || a.gid !== undefined) throw new SftpRefusal(STATUS.OP_UNSUPPORTED, `${path}: changing the owner is not supported`, 'unsupported');
}

/** Hub/agent errors carry the agent's file-error code; the agent's message names the server-relative path. */
export function statusOf(err: unknown): SftpStatus {
  if (err instanceof SftpRefusal) return err.status;
  const e = err as { name?: string; code?: string };
  if (e?.name === 'PathEscapeError') return STATUS.PERMISSION_DENIED;
  // AgentRpcError, and StreamError when the agent aborts a transfer: both carry the agent's file-error code.
  return statusOfCode(typeof e?.code === 'string' ? e.code : undefined);
}

function messageOf(err: unknown): string {
  const e = err as { name?: string; agentMessage?: string; message?: string; code?: string };
  if (e?.name === 'AgentRpcError' && e.agentMessage) return e.agentMessage;
  if (e instanceof SftpRefusal || e?.name === 'PathEscapeError' || e?.name === 'FileError') return e.message!;
  if (typeof e?.code === 'string' && e.message) return e.message; // hub errors: node offline, timeout
  return 'internal error (logged on the panel)';
}
