// File management (Catalyst's routes plus what Pterodactyl's file manager offers). Files are not state:
// every call goes to the server's node through the agent hub, where the confined file system
// (agent/files/) does the work and refuses anything that would leave the server's data dir. Its
// refusals keep their code and message (path_escape → 403, not_found → 404, …: FILE_ERROR_STATUS), are
// audited (mutating routes by the pipeline; GET refusals of confinement as `file.refused` here), and a
// node without a connected agent is a 503 that names the node.
//
// Bytes stream end to end: an upload is parsed with busboy straight off the Node request (never
// c.req.parseBody(), which buffers the whole body) and fed to hub.files.upload with its size limit;
// a download is the hub's stream handed to the response. Memory stays bounded by the hub's window.
//
// Decisions: compress needs file.write (it writes an archive; Catalyst's doc says file.read); the
// upload limit (svc.limits.uploadMaxBytes) applies to a request's file data as a whole; GET
// .../files/contents answers JSON {path, content, size} rather than bare text, like every other route.
import path from 'node:path/posix';
import { PassThrough, Readable } from 'node:stream';
import busboy from 'busboy';
import type { Context } from 'hono';
import type { GameServer } from '../../crds/types.ts';
import { FILE_ERROR_STATUS, type FileErrorCode, type FilesTarget, type RpcMethod, type RpcParams, type RpcResults } from '../../agent/protocol.ts';
import { AgentRpcError, NodeDisconnectedError, NodeNotConnectedError, RpcTimeoutError, isRpcError } from '../../controller/hub/errors.ts';
import type { AgentHub } from '../../controller/hub/agent-hub.ts';
import { StreamError } from '../../lib/byte-streams.ts';
import { route, ok, done, type RouteCtx, type RouteSpec } from '../http/route.ts';
import { ApiError, badRequest, conflict, forbidden } from '../http/errors.ts';
import { streamResponse } from '../http/stream-response.ts';
import type { ApiServices } from '../http/services.ts';
import { serverPhase } from '../catalyst/servers.ts';
import { boundNode, dataDirOf, dataNode, isMoving } from '../../crds/placement.ts';

const MiB = 1024 * 1024;
/** Multipart framing allowed on top of the file data before a declared Content-Length is refused. */
const MULTIPART_OVERHEAD = MiB;
const RPC_TIMEOUT_MS = 30_000;
/** Archives can take a while; the agent bounds them itself (agent/files/archive.ts limits). */
const ARCHIVE_TIMEOUT_MS = 30 * 60_000;

/** Codes that mean "this path tried to leave the server's directory" (or is malformed to that end). */
const CONFINEMENT: ReadonlySet<string> = new Set(['path_escape', 'symlink_escape', 'hardlink', 'invalid_path']);

export interface ServerTarget {
  hub: AgentHub;
  node: string;
  uid: string;
  dataDir: string;
}

/**
 * Where a server's files are: its node (which must have an agent connected), uid and data dir. A change
 * (any method but GET) is refused while the data is being moved to another node: it would be made on
 * the source after its bytes were sent, and lost with the source copy.
 */
export function serverTarget(svc: ApiServices, server: GameServer, method = 'GET'): ServerTarget {
  const name = server.metadata.name;
  // Where the data lives: before admission there is none, during a transfer it is still on the source.
  const node = dataNode(server);
  if (!node) throw conflict(`Server "${name}" is not placed on a node yet (status: ${serverPhase(server)}); it has no files until it is scheduled`, 'server_not_placed');
  if (method !== 'GET' && isMoving(server)) {
    throw conflict(`Server "${name}" is being moved to node ${boundNode(server)}: its files can be read but not changed until the transfer ends`, 'transfer_in_progress');
  }
  if (!svc.hub) throw new ApiError(503, 'This Gantry process has no agent hub: files are served by the nodes', 'hub_unavailable');
  if (!svc.hub.isConnected(node)) throw new ApiError(503, `Node "${node}" is offline: the files of server "${name}" are unavailable until its agent reconnects`, 'node_offline');
  return { hub: svc.hub, node, uid: server.metadata.uid!, dataDir: dataDirOf(server) };
}

const isFileCode = (code: string): code is FileErrorCode => Object.prototype.hasOwnProperty.call(FILE_ERROR_STATUS, code);

/** An agent/hub/stream failure → the ApiError a client should see (unknown errors pass through as 500). */
export function toApiError(err: unknown, node: string): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof NodeNotConnectedError || err instanceof NodeDisconnectedError || isRpcError(err, 'send_failed') || isRpcError(err, 'closed')) {
    return new ApiError(503, `Node "${node}" went offline during the operation; try again when it is back (${(err as Error).message})`, 'node_offline');
  }
  if (err instanceof RpcTimeoutError) return new ApiError(504, `Node "${node}" did not answer within ${Math.round(err.timeoutMs / 1000)} s`, 'agent_timeout');
  if (err instanceof AgentRpcError) {
    if (isFileCode(err.code)) return new ApiError(FILE_ERROR_STATUS[err.code], err.agentMessage, err.code);
    if (err.code === 'invalid_params') return new ApiError(400, err.agentMessage, 'invalid_params');
    if (err.code === 'not_found') return new ApiError(404, err.agentMessage, 'not_found');
    if (err.code === 'conflict') return new ApiError(409, err.agentMessage, 'conflict');
    return new ApiError(502, `Node "${node}" failed: ${err.agentMessage}`, err.code);
  }
  if (err instanceof StreamError || (err as Error)?.name === 'StreamError') {
    const code = (err as StreamError).code;
    if (isFileCode(code)) return new ApiError(FILE_ERROR_STATUS[code], (err as Error).message, code);
    if (code === 'disconnected' || code === 'closed') return new ApiError(503, `Node "${node}" went offline during the transfer`, 'node_offline');
    return new ApiError(502, `Transfer with node "${node}" failed: ${(err as Error).message}`, code);
  }
  return err;
}

/**
 * Runs an agent operation for a route: maps its failure, notes a refusal in the audit metadata, and
 * (read-only routes are not audited by the pipeline) records confinement refusals of GETs as
 * `file.refused`.
 */
async function agentOp<T>(ctx: RouteCtx, t: ServerTarget, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (raw) {
    const err = toApiError(raw, t.node);
    if (err instanceof ApiError && err.statusCode < 500) {
      ctx.audit.metadata.refused = err.reason;
      ctx.audit.metadata.message = err.message.slice(0, 500);
      if (ctx.c.req.method === 'GET' && err.reason && CONFINEMENT.has(err.reason)) await auditRefusedRead(ctx, err);
    }
    throw err;
  }
}

/** The refusal of one path of a files.delete, as its API error, noted on the audit entry. */
function deleteRefusal(ctx: RouteCtx, t: ServerTarget, r: { path: string; error?: { code?: string; message?: string } }): ApiError {
  const err = toApiError(new AgentRpcError(t.node, 'files.delete', r.error?.code ?? 'failed', r.error?.message ?? `${r.path}: not deleted`), t.node) as ApiError;
  ctx.audit.metadata.refused = err.reason;
  ctx.audit.metadata.message = err.message.slice(0, 500);
  return err;
}

type FileRpcMethod = Extract<RpcMethod, `files.${string}`>;

/** A files.* RPC for the server `t` (its uid and data dir added), run through agentOp. */
function fileRpc<M extends FileRpcMethod>(ctx: RouteCtx, t: ServerTarget, method: M, params: Omit<RpcParams[M], keyof FilesTarget>, timeoutMs = RPC_TIMEOUT_MS): Promise<RpcResults[M]> {
  return agentOp(ctx, t, () => t.hub.call(t.node, method, { uid: t.uid, dataDir: t.dataDir, ...params } as RpcParams[M], { timeoutMs }));
}

async function auditRefusedRead(ctx: RouteCtx, err: ApiError): Promise<void> {
  await ctx.svc.audit.record({
    userId: ctx.principal?.userId ?? null,
    username: ctx.principal?.username ?? null,
    action: 'file.refused',
    resourceType: 'server',
    resourceId: ctx.params[ctx.dialect.serverParam] ?? null,
    status: err.statusCode,
    metadata: { ...ctx.audit.metadata, method: 'GET', route: ctx.c.req.path, code: err.reason },
    ipAddress: ctx.ip ?? null,
    resourceUid: ctx.server?.metadata.uid ?? null,
    facade: ctx.dialect.name,
  });
}

/** `?path=` or a body path: a string; the agent decides what is inside the server (it normalises and confines). */
function requirePath(v: unknown, what = 'path'): string {
  if (typeof v !== 'string' || v === '') throw badRequest(`${what} is required`);
  return v;
}

/** The directory part of a client's path, lexically and without normalising (`..` stays for the agent to refuse). */
function parentOf(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i <= 0 ? '/' : trimmed.slice(0, i);
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const pathProp = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const pathQuery = { type: 'string', maxLength: 4096, description: 'Path inside the server (`/` = its root)' } as const;
const fileRoute = (spec: Omit<RouteSpec, 'tag' | 'blockedWhenSuspended'>): RouteSpec => route({ ...spec, tag: 'files', blockedWhenSuspended: true });
const audited = (ctx: RouteCtx, meta: Record<string, unknown>) => {
  ctx.audit.resourceType = 'server';
  ctx.audit.resourceId = ctx.server!.metadata.name;
  Object.assign(ctx.audit.metadata, meta);
};

/** Catalyst's list entry plus the agent's details. */
function toListEntry(e: { name: string; path: string; type: string; isDirectory: boolean; size: number; mode: number; modeString: string; modified: string; target?: string }) {
  return {
    name: e.name,
    size: e.size,
    isDirectory: e.isDirectory,
    modified: e.modified,
    path: e.path,
    type: e.type,
    isFile: e.type === 'file',
    isSymlink: e.type === 'symlink',
    mode: e.modeString,
    modeBits: e.mode,
    ...(e.target !== undefined ? { target: e.target } : {}),
  };
}

/** chmod's mode: "755"/"0755" (octal, as Pterodactyl sends it) or the number of permission bits. */
function parseMode(v: unknown): number {
  if (typeof v === 'number') return v;
  const s = String(v);
  if (!/^0?[0-7]{3}$/.test(s)) throw badRequest(`mode: "${s.slice(0, 20)}" is not an octal mode such as "644" or "0755"`);
  return parseInt(s, 8);
}

// ---- upload --------------------------------------------------------------------------------------

function validUploadName(name: string | undefined): string {
  if (!name || name === '.' || name === '..' || /[/\\\0]/.test(name) || Buffer.byteLength(name) > 255) {
    throw badRequest(`file name ${JSON.stringify((name ?? '').slice(0, 80))} is not a plain file name`, 'invalid_path');
  }
  return name;
}

/** The Node request (c.env.incoming under @hono/node-server); in-process app.request() gets the web body. */
function nodeRequest(c: Context): Readable {
  const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming;
  if (incoming) return incoming;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([]);
}

async function upload(ctx: RouteCtx): Promise<Response> {
  const { c, svc } = ctx;
  const type = c.req.header('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(type)) throw new ApiError(415, `Content-Type ${type.split(';')[0] || '(none)'} is not supported here: send multipart/form-data with fields "path" and "file"`, 'unsupported_media_type');
  const max = svc.limits.uploadMaxBytes;
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > max + MULTIPART_OVERHEAD) {
    c.header('Connection', 'close');
    ctx.audit.metadata.refused = 'too_large';
    throw new ApiError(413, `upload is larger than the limit of ${max} bytes`, 'too_large');
  }
  const t = serverTarget(svc, ctx.server!, c.req.method);
  let dir: string | undefined = typeof ctx.query.path === 'string' ? ctx.query.path : undefined;
  audited(ctx, {});
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: { 'content-type': type }, limits: { files: 100, fields: 20, parts: 140, fieldSize: 8192, fileSize: max + 1 } });
  } catch (e) {
    throw badRequest(`multipart body cannot be read: ${(e as Error).message}`, 'invalid_multipart');
  }
  const req = nodeRequest(c);
  const uploaded: { path: string; size: number }[] = [];
  let failure: unknown;
  let current: Readable | undefined;
  let chain: Promise<void> = Promise.resolve();
  let total = 0;
  const fail = (err: unknown) => {
    failure ??= err;
  };

  const parsed = new Promise<void>((resolve, reject) => {
    bb.on('field', (name, value) => {
      if (name === 'path' || name === 'directory') dir = value;
    });
    bb.on('file', (_field, stream, info) => {
      // busboy destroys a file stream it cannot finish (client gone, form cut short) with an error.
      stream.on('error', (e: Error) => fail(e instanceof ApiError ? e : badRequest(`multipart body cannot be read: ${e.message}`, 'invalid_multipart')));
      let target: string;
      try {
        if (failure) throw failure;
        if (dir === undefined) throw badRequest('send the "path" field before the "file" field (or pass ?path=)', 'path_after_file');
        // Joined as strings, never normalised: a `..` in the directory must reach the agent and be refused.
        target = `${dir.replace(/\/+$/, '')}/${validUploadName(info.filename)}`;
      } catch (err) {
        fail(err);
        stream.resume();
        return;
      }
      stream.on('limit', () => fail(new ApiError(413, `${target} is larger than the upload limit of ${max} bytes`, 'too_large')));
      chain = chain.then(async () => {
        if (failure) return void stream.resume();
        // Through a PassThrough: a failed transfer destroys what it reads, and busboy's own file stream
        // must stay intact so the rest of the form can be drained (else busboy stalls, never closing).
        const pass = new PassThrough({ highWaterMark: 256 * 1024 });
        current = pass;
        stream.pipe(pass);
        try {
          const r = await t.hub.files.upload(t.node, t.uid, target, pass, { maxBytes: Math.max(0, max - total), dataDir: t.dataDir });
          total += r.size;
          uploaded.push({ path: target, size: r.size });
        } catch (err) {
          fail(err);
          stream.unpipe(pass);
          pass.destroy();
          stream.resume();
        } finally {
          current = undefined;
        }
      });
    });
    bb.on('close', resolve);
    bb.on('error', (err: Error) => reject(badRequest(`multipart body cannot be read: ${err.message}`, 'invalid_multipart')));
  });
  // A client that goes away mid-upload must not leave the agent waiting for bytes (it would, until the
  // RPC's timeout): fail the file in flight, which aborts the stream and the agent's temp file.
  const aborted = () => {
    const err = new ApiError(400, 'the client closed the connection during the upload', 'client_aborted');
    fail(err);
    current?.destroy(err);
    bb.destroy(err);
  };
  req.once('aborted', aborted);
  req.once('error', aborted);
  req.pipe(bb);
  try {
    await parsed;
  } catch (err) {
    fail(err);
    current?.destroy(err as Error);
  } finally {
    await chain;
    req.off('aborted', aborted);
    req.off('error', aborted);
  }
  ctx.audit.metadata.files = uploaded.map((u) => u.path).slice(0, 20);
  ctx.audit.metadata.bytes = total;
  if (failure) {
    const err = toApiError(failure, t.node);
    if (err instanceof ApiError) {
      ctx.audit.metadata.refused = err.reason;
      ctx.audit.metadata.message = err.message.slice(0, 500);
      if (err.statusCode === 413) c.header('Connection', 'close');
    }
    // Drain what the client still sends so it can read the refusal (bounded: Content-Length was checked).
    req.unpipe(bb);
    req.resume();
    throw err;
  }
  if (!uploaded.length) throw badRequest('no file in the form: send a "file" field', 'no_file');
  return done(c, 'File uploaded successfully', { data: uploaded });
}

// ---- routes --------------------------------------------------------------------------------------

export const fileRoutes: RouteSpec[] = [
  fileRoute({
    method: 'GET',
    path: '/api/servers/:serverId/files',
    summary: 'List a directory of the server',
    access: { permission: 'file.read', server: true },
    query: { path: pathQuery },
    responses: { 403: 'path leaves the server directory', 404: 'no such directory', 409: 'not a directory / server not placed', 503: 'node offline' },
    handler: async (ctx) => {
      const { c, svc, server, query } = ctx;
      const t = serverTarget(svc, server!, c.req.method);
      const p = (query.path as string | undefined) ?? '/';
      ctx.audit.metadata.path = p;
      const r = await fileRpc(ctx, t, 'files.list', { path: p });
      return ok(c, r.entries.map(toListEntry), 200, { path: r.path, truncated: r.truncated });
    },
  }),

  fileRoute({
    method: 'GET',
    path: '/api/servers/:serverId/files/contents',
    summary: 'Read a text file (UTF-8, up to 2 MiB; download bigger files)',
    access: { permission: 'file.read', server: true },
    query: { path: pathQuery },
    responses: { 413: 'file too large to read as text' },
    handler: async (ctx) => {
      const { c, svc, server, query } = ctx;
      const p = requirePath(query.path);
      const t = serverTarget(svc, server!, c.req.method);
      ctx.audit.metadata.path = p;
      const r = await fileRpc(ctx, t, 'files.read', { path: p });
      return ok(c, { path: p, content: r.content, size: r.size });
    },
  }),

  fileRoute({
    method: 'GET',
    path: '/api/servers/:serverId/files/download',
    summary: 'Download a file (streamed). Accepts ?token= (a download token for this file) for links opened by a browser',
    access: { permission: 'file.read', server: true },
    queryToken: 'download',
    query: { path: pathQuery, token: { type: 'string', maxLength: 4096, description: 'A download token (POST /api/auth/tokens) instead of the Authorization header' } },
    responses: { 200: 'the file (application/octet-stream, Content-Disposition: attachment)', 403: 'path leaves the server directory, or the token is for another file' },
    handler: async (ctx) => {
      const { c, svc, server, query, params, tokenScope } = ctx;
      const p = requirePath(query.path);
      if (tokenScope && (tokenScope.serverId !== params.serverId || tokenScope.path !== p)) throw forbidden('this download token was issued for another file', 'token_scope');
      const t = serverTarget(svc, server!, c.req.method);
      ctx.audit.metadata.path = p;
      const r = await agentOp(ctx, t, () => t.hub.files.download(t.node, t.uid, p, { dataDir: t.dataDir, timeoutMs: RPC_TIMEOUT_MS }));
      const name = path.basename(p) || 'download';
      return streamResponse(c, r.stream, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(r.size),
        'Content-Disposition': contentDisposition(name),
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Last-Modified': new Date(r.modified).toUTCString(),
      });
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/upload',
    summary: 'Upload files (multipart/form-data: field "path" = target directory, then one or more "file" fields), streamed',
    access: { permission: 'file.write', server: true },
    rawBody: true,
    query: { path: { ...pathQuery, description: 'Target directory (instead of the "path" form field)' } },
    responses: { 413: 'over the upload limit (100 MiB by default)', 415: 'not multipart/form-data' },
    handler: upload,
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/create',
    summary: 'Create a file (with optional content) or a directory',
    access: { permission: 'file.write', server: true },
    body: {
      type: 'object',
      required: ['path'],
      additionalProperties: false,
      properties: { path: pathProp, content: { type: 'string', maxLength: 2 * MiB }, isDirectory: { type: 'boolean' } },
    },
    responses: { 409: 'already exists' },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { path: body.path, isDirectory: !!body.isDirectory });
      if (body.isDirectory && body.content !== undefined) throw badRequest('content applies to files, not directories');
      const entry = await fileRpc(ctx, t, 'files.create', { path: body.path, isDirectory: body.isDirectory, content: body.content });
      return done(c, body.isDirectory ? 'Directory created successfully' : 'File created successfully', { data: toListEntry(entry) });
    },
  }),

  ...(['PUT', 'POST'] as const).map((method) =>
    fileRoute({
      method,
      path: '/api/servers/:serverId/files/write',
      summary: 'Write a text file (replaced atomically; created with its parents when missing)',
      access: { permission: 'file.write', server: true },
      body: { type: 'object', required: ['path', 'content'], additionalProperties: false, properties: { path: pathProp, content: { type: 'string', maxLength: 2 * MiB } } },
      handler: async (ctx: RouteCtx) => {
        const { c, svc, server, body } = ctx;
        const t = serverTarget(svc, server!, c.req.method);
        audited(ctx, { path: body.path, bytes: Buffer.byteLength(body.content) });
        const r = await fileRpc(ctx, t, 'files.write', { path: body.path, content: body.content });
        return done(c, 'File written successfully', { data: { path: body.path, size: r.size } });
      },
    }),
  ),

  fileRoute({
    method: 'DELETE',
    path: '/api/servers/:serverId/files',
    summary: 'Delete a file or a directory (recursively)',
    access: { permission: 'file.delete', server: true },
    query: { path: pathQuery },
    handler: async (ctx) => {
      const { c, svc, server, query } = ctx;
      const p = requirePath(query.path);
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { path: p });
      const r = await fileRpc(ctx, t, 'files.delete', { paths: [p] });
      const res = r.results[0];
      if (res && !res.ok) throw deleteRefusal(ctx, t, res);
      return done(c, 'File deleted successfully');
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/delete',
    summary: 'Delete several files or directories (each recursively); the answer lists each outcome',
    access: { permission: 'file.delete', server: true },
    body: { type: 'object', required: ['paths'], additionalProperties: false, properties: { paths: { type: 'array', minItems: 1, maxItems: 1000, items: pathProp } } },
    responses: { 200: 'all deleted (or already gone)', 403: 'a path was refused (the others are deleted; see results)' },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { paths: (body.paths as string[]).slice(0, 50), count: body.paths.length });
      const r = await fileRpc(ctx, t, 'files.delete', { paths: body.paths }, ARCHIVE_TIMEOUT_MS);
      const results = r.results.map((x) => ({ path: x.path, deleted: x.ok, ...(x.error ? { error: x.error.code, message: x.error.message } : {}) }));
      // Something already gone is what the caller wanted; any other refusal fails the call (with every outcome).
      const refused = r.results.find((x) => !x.ok && x.error?.code !== 'not_found');
      if (refused) {
        const mapped = deleteRefusal(ctx, t, refused);
        throw new ApiError(mapped.statusCode, `${mapped.message} (${results.filter((x) => x.deleted).length} of ${results.length} deleted)`, mapped.reason, { results });
      }
      return done(c, `${results.filter((x) => x.deleted).length} of ${results.length} deleted`, { data: results });
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/rename',
    summary: 'Rename or move a file or directory',
    access: { permission: 'file.write', server: true },
    body: { type: 'object', required: ['from', 'to'], additionalProperties: false, properties: { from: pathProp, to: pathProp, overwrite: { type: 'boolean' } } },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { from: body.from, to: body.to });
      await fileRpc(ctx, t, 'files.rename', { from: body.from, to: body.to, overwrite: body.overwrite });
      return done(c, 'File renamed successfully');
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/copy',
    summary: 'Copy a file or directory',
    access: { permission: 'file.write', server: true },
    body: { type: 'object', required: ['from', 'to'], additionalProperties: false, properties: { from: pathProp, to: pathProp } },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { from: body.from, to: body.to });
      await fileRpc(ctx, t, 'files.copy', { from: body.from, to: body.to }, ARCHIVE_TIMEOUT_MS);
      return done(c, 'File copied successfully');
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/chmod',
    summary: 'Change the permission bits of a file or directory ("755" or 493)',
    access: { permission: 'file.write', server: true },
    body: {
      type: 'object',
      required: ['path', 'mode'],
      additionalProperties: false,
      properties: { path: pathProp, mode: { anyOf: [{ type: 'string', maxLength: 4 }, { type: 'integer', minimum: 0, maximum: 0o777 }] } },
    },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const mode = parseMode(body.mode);
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { path: body.path, mode: mode.toString(8).padStart(4, '0') });
      await fileRpc(ctx, t, 'files.chmod', { path: body.path, mode });
      return done(c, 'Permissions changed successfully');
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/compress',
    summary: 'Create a .tar.gz of some paths (file.write: it writes the archive). A bare archiveName is placed beside the first path',
    access: { permission: 'file.write', server: true },
    body: {
      type: 'object',
      required: ['paths'],
      additionalProperties: false,
      properties: { paths: { type: 'array', minItems: 1, maxItems: 1000, items: pathProp }, archiveName: { type: 'string', minLength: 1, maxLength: 4096 } },
    },
    responses: { 409: 'an archive of that name exists' },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const paths: string[] = body.paths;
      const name: string = body.archiveName ?? `archive-${new Date(svc.now()).toISOString().replace(/[:.]/g, '-')}.tar.gz`;
      // Pterodactyl's habit: the archive lands in the directory of what is archived.
      const destination = name.includes('/') ? name : `${parentOf(paths[0]!)}/${name}`.replace(/^\/\//, '/');
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { paths: paths.slice(0, 50), destination });
      const r = await fileRpc(ctx, t, 'files.compress', { paths, destination }, ARCHIVE_TIMEOUT_MS);
      return c.json({ success: true, archivePath: r.archivePath, data: { archivePath: r.archivePath, size: r.size, entries: r.entries, skipped: r.skipped } });
    },
  }),

  fileRoute({
    method: 'POST',
    path: '/api/servers/:serverId/files/decompress',
    summary: 'Extract a .tar.gz (or .tar) into a directory (default: beside the archive); entries leaving it are refused',
    access: { permission: 'file.write', server: true },
    body: { type: 'object', required: ['archivePath'], additionalProperties: false, properties: { archivePath: pathProp, targetPath: pathProp } },
    responses: { 403: 'an entry would land outside the server directory', 413: 'over the extraction limits', 422: 'not a readable archive' },
    handler: async (ctx) => {
      const { c, svc, server, body } = ctx;
      const targetPath: string = body.targetPath ?? parentOf(body.archivePath);
      const t = serverTarget(svc, server!, c.req.method);
      audited(ctx, { archivePath: body.archivePath, targetPath });
      const r = await fileRpc(ctx, t, 'files.decompress', { archivePath: body.archivePath, targetPath }, ARCHIVE_TIMEOUT_MS);
      return done(c, 'Archive extracted successfully', { data: { targetPath, entries: r.entries, bytes: r.bytes, skipped: r.skipped } });
    },
  }),
];
