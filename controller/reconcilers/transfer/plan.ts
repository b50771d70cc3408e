// The transfer plan: pure, from (a GameServer, its two nodes, the job this process runs, the fit on the
// target) to a status patch written first and the actions run after it.
//
// A transfer is asked for by spec.nodeName alone (the REST facade writes it, an operator's YAML or
// kubectl does the same): once a server is admitted, spec.nodeName differing from status.nodeName
// (crds/placement.ts isTransferring) means "move the data there". This controller is then the ONLY
// writer of status.nodeName (the scheduler writes it once, at admission), and of status.transfer and
// the Transferred condition. It writes spec.nodeName only to roll a refused or failed transfer back.
//
//   status.transfer | situation                                         | result
//   ----------------+---------------------------------------------------+-----------------------------------------
//   none            | not transferring (spec = status node)             | nothing (a stale finalizer is removed)
//   none            | transferring, a check fails: meant to run, source | Transferred=False <reason>, spec.nodeName
//                   | not connected, its container running, target      | back to the source (a refusal: nothing
//                   | missing / being deleted / offline, does not fit   | was moved)
//   none            | transferring, all checks pass                     | transfer {id, from, to, Streaming},
//                   |                                                   | Transferred=False Transferring → finalizer,
//                   |                                                   | startMove (relay → target commit → the
//                   |                                                   | source's container removed)
//   Streaming       | job running                                       | nothing; spec.nodeName changed or deleted
//                   |                                                   | → cancelMove
//   Streaming       | job succeeded, still wanted, ports fit            | THE FLIP: status.nodeName = to, ports on
//                   |                                                   | the target, CleaningSource, Transferred=
//                   |                                                   | True → startSourceCleanup
//   Streaming       | job failed / no job here (controller restarted) / | rollback: CleaningTarget with the reason,
//                   | succeeded but no longer wanted / ports taken      | Transferred=False, spec.nodeName back to
//                   |                                                   | the source → startTargetCleanup
//   CleaningSource  | source connected → remove its data dir; done →    | transfer removed, Transferred=True
//                   | GameNode gone → nothing left to remove            | TransferCompleted, finalizer removed
//   CleaningTarget  | target connected → transfer.abort (staging dir,   | transfer removed, finalizer removed
//                   | or the committed copy by inode); GameNode gone    | (the condition keeps the failure)
//   Cleaning*       | node not connected                                | waits (the server works meanwhile: it is
//                   |                                                   | on its data node); a failed cleanup
//                   |                                                   | is retried
//
// The server is never without its data: until the flip the source copy is untouched and status says
// the source; the flip happens only after the target swapped the verified data in, made it durable
// and confirmed; the source copy goes only after the flip. A new transfer starts only once the
// previous one's cleanup is done, and deletion waits for a pending cleanup (the finalizer), so no copy
// outlives its server under a name another server could inherit.
import type { Condition, GameServer, GameServerStatus, ServerPort, TransferStatus } from '../../../crds/types.ts';
import type { ObservedContainer, TransferSendResult } from '../../../agent/protocol.ts';
import { boundNode, dataDirOf, dataNode, isTransferring } from '../../../crds/placement.ts';
import type { JobObserved } from '../shared/jobs.ts';
import type { NodeView, PlanEvent, StatusPatch } from '../shared/reconcile.ts';
import { findCondition, setCondition } from '../shared/conditions.ts';

export const TRANSFER_FINALIZER = 'gantry.dev/transfer';
export const TRANSFERRED = 'Transferred';
/** A cleanup that failed (not for want of a connection) is tried again after this long. */
export const CLEANUP_RETRY_MS = 30_000;

export interface TransferNodeView extends NodeView {
  /** The agent is connected and its snapshot arrived (what it runs is known). */
  synced?: boolean;
  /** The GameNode is being deleted. */
  deleting?: boolean;
}

/** What the move job hands back: the source's counts, once the target committed them. */
export type MoveResult = Pick<TransferSendResult, 'sha256' | 'bytes' | 'entries' | 'skipped' | 'skippedCount'>;

export type Fit = { ok: true; ports: ServerPort[] } | { ok: false; reason: string };

export interface TransferPlanInput {
  server: GameServer;
  /** The node holding the data: status.nodeName (transfer.from once started). */
  source?: TransferNodeView;
  /** The node asked for: spec.nodeName (transfer.to once started). */
  target?: TransferNodeView;
  /** The server's container on the source, as its agent reports it. */
  sourceContainer?: ObservedContainer;
  /** Resources and host ports on the target (scheduling/checkBinding), computed by the executor. */
  fit: Fit;
  /** This process's jobs of the current transfer. */
  jobs: { move?: JobObserved<MoveResult>; source?: JobObserved<unknown>; target?: JobObserved<unknown> };
  now: Date;
  /** A fresh transfer id (the executor's randomness). */
  newId: string;
}

export interface TransferParams {
  uid: string;
  transferId: string;
  dataDir: string;
}

export type TransferAction =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer' }
  | { type: 'startMove'; source: string; target: string; params: TransferParams }
  | { type: 'cancelMove'; transferId: string }
  /** spec.nodeName = nodeName, only while it still names `unless` (an operator's newer choice stays). */
  | { type: 'revertSpec'; nodeName: string; unless: string }
  | { type: 'startSourceCleanup'; node: string; params: TransferParams }
  | { type: 'startTargetCleanup'; node: string; params: TransferParams };

export interface TransferPlan {
  status: StatusPatch<GameServerStatus>;
  actions: TransferAction[];
  events: PlanEvent[];
  /** Job outcomes now in status: drop them once it is written. */
  forgetJobs?: boolean;
  requeueAfterMs?: number;
}

const RUNNING = new Set(['running', 'restarting', 'paused']);

/** Why a move failed, for the condition: a reason and a sentence naming the node at fault. */
export function failureOf(code: string, message: string, t: Pick<TransferStatus, 'from' | 'to'>, side?: 'source' | 'target' | 'cancelled'): { reason: string; message: string } {
  const node = side === 'source' ? t.from : t.to;
  switch (code) {
    case 'no_space':
      return { reason: 'TargetDiskFull', message: `node ${t.to} ran out of disk space while receiving the data (${message})` };
    case 'checksum_mismatch':
      return { reason: 'ChecksumMismatch', message: `the data reached node ${t.to} damaged (${message})` };
    case 'unsafe_archive':
      return { reason: 'UnsafeData', message: `node ${t.to} refused the data: ${message}` };
    case 'cancelled':
      return { reason: 'TransferCancelled', message: 'the transfer was cancelled (spec.nodeName changed or the server is being deleted)' };
    case 'disconnected':
    case 'not_connected':
    case 'closed':
      return { reason: side === 'source' ? 'SourceUnreachable' : 'TargetUnreachable', message: `the agent of node ${node} disconnected during the transfer (${message})` };
    case 'timeout':
      return { reason: 'TransferTimeout', message: `node ${node} did not answer in time (${message})` };
    case 'unknown_method':
      return { reason: 'AgentTooOld', message: `the agent of node ${node} cannot transfer servers; upgrade it (${message})` };
    case 'conflict':
      return { reason: 'ServerNotStopped', message };
    default:
      return { reason: 'TransferFailed', message };
  }
}

function withCondition(status: GameServerStatus | undefined, c: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  return setCondition(status?.conditions, c, now.getTime());
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function planTransfer(input: TransferPlanInput): TransferPlan {
  const { server, source, target, jobs, now } = input;
  const st = server.status ?? {};
  const t = st.transfer;
  const gen = server.metadata.generation;
  const deleting = !!server.metadata.deletionTimestamp;
  const hasFinalizer = (server.metadata.finalizers ?? []).includes(TRANSFER_FINALIZER);
  const out: TransferPlan = { status: {}, actions: [], events: [] };
  const condition = (status: Condition['status'], reason: string, message: string) => {
    const conditions = withCondition(st, { type: TRANSFERRED, status, reason, message, ...(gen !== undefined ? { observedGeneration: gen } : {}) }, now);
    if (!same(conditions, st.conditions)) out.status.conditions = conditions;
  };
  const event = (type: PlanEvent['type'], reason: string, message: string) => out.events.push({ type, reason, message });
  const params = (id: string): TransferParams => ({ uid: server.metadata.uid!, transferId: id, dataDir: dataDirOf(server) });

  if (!t) {
    if (deleting || !isTransferring(server)) {
      if (hasFinalizer) out.actions.push({ type: 'removeFinalizer' });
      return out;
    }
    const from = dataNode(server)!;
    const to = boundNode(server)!;
    const refuse = (reason: string, message: string): TransferPlan => {
      const full = `transfer from ${from} to ${to} refused: ${message}; spec.nodeName is set back to ${from}`;
      const prev = findCondition(st.conditions, TRANSFERRED);
      condition('False', reason, full);
      if (prev?.reason !== reason || prev.message !== full) event('Warning', 'TransferRefused', full);
      out.actions.push({ type: 'revertSpec', nodeName: from, unless: to });
      return out;
    };
    if (server.spec?.state === 'Running' && !server.spec.suspended) return refuse('ServerNotStopped', 'the server must be stopped (spec.state is Running)');
    if (!source?.connected || !source.synced) return refuse('SourceUnreachable', `node ${from}, which holds the data, is not connected`);
    if (input.sourceContainer && RUNNING.has(input.sourceContainer.state)) return refuse('ServerNotStopped', `its container is still ${input.sourceContainer.state} on node ${from}`);
    if (!target?.exists) return refuse('TargetNotFound', `node ${to} does not exist`);
    if (target.deleting) return refuse('TargetNotFound', `node ${to} is being deleted`);
    if (!target.connected) return refuse('TargetOffline', `node ${to} is offline`);
    if (!input.fit.ok) return refuse('InsufficientResources', input.fit.reason);

    const transfer: TransferStatus = { id: input.newId, from, to, phase: 'Streaming', startedAt: now.toISOString() };
    out.status.transfer = transfer;
    condition('False', 'Transferring', `moving the data from node ${from} to node ${to}`);
    event('Normal', 'TransferStarted', `moving the data from node ${from} to node ${to}`);
    if (!hasFinalizer) out.actions.push({ type: 'addFinalizer' });
    out.actions.push({ type: 'startMove', source: from, target: to, params: params(transfer.id) });
    return out;
  }

  const rollback = (reason: string, message: string): TransferPlan => {
    const full = `${message}; the server stays on node ${t.from} with its data`;
    out.status.transfer = { ...t, phase: 'CleaningTarget', message: full };
    condition('False', reason, full);
    event('Warning', 'TransferFailed', full);
    out.forgetJobs = true;
    if (!deleting) out.actions.push({ type: 'revertSpec', nodeName: t.from, unless: t.to });
    if (target?.connected) out.actions.push({ type: 'startTargetCleanup', node: t.to, params: params(t.id) });
    return out;
  };

  if (t.phase === 'Streaming') {
    const wanted = !deleting && boundNode(server) === t.to;
    const move = jobs.move;
    if (move?.state === 'running') {
      if (!wanted) out.actions.push({ type: 'cancelMove', transferId: t.id });
      return out;
    }
    if (move?.state === 'failed') {
      const f = failureOf(move.code, move.message, t, move.side);
      return rollback(f.reason, f.message);
    }
    if (!move) return rollback('ControllerRestarted', 'the controller restarted during the transfer, which cannot be resumed');
    if (!wanted) return rollback('TransferCancelled', 'the transfer was cancelled (spec.nodeName changed or the server is being deleted) after the data had reached the target');
    if (!input.fit.ok) return rollback('InsufficientResources', `the data reached node ${t.to} but the server no longer fits there: ${input.fit.reason}`);
    const r = move.result;
    // The flip: from here on the server's data is on the target.
    out.status.nodeName = t.to;
    out.status.ports = input.fit.ports;
    out.status.containerId = null;
    out.status.transfer = { ...t, phase: 'CleaningSource', bytes: r.bytes, entries: r.entries, sha256: r.sha256 };
    const left = r.skippedCount ? `; ${r.skippedCount} ${r.skippedCount === 1 ? 'entry was' : 'entries were'} not moved (symlinks pointing outside the data directory, sockets, FIFOs: ${r.skipped.join(', ')}${r.skippedCount > r.skipped.length ? ', …' : ''})` : '';
    const moved = `moved from node ${t.from} to node ${t.to} (${r.bytes} bytes, ${r.entries} entries, sha256 ${r.sha256})${left}`;
    condition('True', 'Transferred', `${moved}; removing the copy on node ${t.from}`);
    event(r.skippedCount ? 'Warning' : 'Normal', 'Transferred', moved);
    out.forgetJobs = true;
    if (source?.connected) out.actions.push({ type: 'startSourceCleanup', node: t.from, params: params(t.id) });
    return out;
  }

  // Cleaning: the server works on its data node meanwhile.
  const cleaningSource = t.phase === 'CleaningSource';
  const node = cleaningSource ? source : target;
  const job = cleaningSource ? jobs.source : jobs.target;
  const finish = (): TransferPlan => {
    out.status.transfer = null;
    if (cleaningSource) {
      const c = findCondition(st.conditions, TRANSFERRED);
      const message = (c?.message ?? `moved from node ${t.from} to node ${t.to}`).replace(/; removing the copy on node .*$/, '');
      condition('True', 'TransferCompleted', message);
      event('Normal', 'TransferCompleted', `${message}; the copy on node ${t.from} was removed`);
    }
    out.forgetJobs = true;
    if (hasFinalizer) out.actions.push({ type: 'removeFinalizer' });
    return out;
  };
  if (!cleaningSource && !deleting && boundNode(server) === t.to) {
    // The rollback's spec write did not land yet (a crash between the two writes): again.
    out.actions.push({ type: 'revertSpec', nodeName: t.from, unless: t.to });
  }
  if (job?.state === 'running') return out;
  if (job?.state === 'succeeded') return finish();
  const startCleanup = (): TransferAction =>
    cleaningSource ? { type: 'startSourceCleanup', node: t.from, params: params(t.id) } : { type: 'startTargetCleanup', node: t.to, params: params(t.id) };
  if (job?.state === 'failed' && job.code !== 'not_connected' && job.code !== 'disconnected') {
    out.forgetJobs = true;
    out.requeueAfterMs = CLEANUP_RETRY_MS;
    const what = cleaningSource ? `removing the copy on node ${t.from}` : `removing what reached node ${t.to}`;
    event('Warning', 'TransferCleanupFailed', `${what} failed: ${job.message}; retrying in ${CLEANUP_RETRY_MS / 1000} s`);
    return out;
  }
  if (job?.state === 'failed') out.forgetJobs = true;
  if (node && !node.exists) return finish(); // the GameNode is gone: nothing of it left to clean
  if (node?.connected) {
    if (job?.state !== 'failed') out.actions.push(startCleanup());
    else out.requeueAfterMs = 1000;
  }
  return out;
}
