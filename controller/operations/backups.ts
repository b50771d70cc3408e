// Backup operations: a backup and a restore are resources (the Backup and Restore controllers do the
// work, their status says how far it got); deleting a Backup removes its archive by its finalizer.
// The checks a caller should hear at once — not after the controller failed the job — live here.
//
// - A Backup has an owner: its GameServer by default (it goes with the server), or the Schedule that
//   made it. It records the server's uid (crds/backups.ts), so an earlier server of the same name's
//   backups are never listed, downloaded or restored as this one's.
// - Restore is refused unless the server is stopped and meant to stay stopped (the restore controller
//   would fail it anyway), the backup completed on the server's node, and no other restore of the
//   server is pending or running.
import type { Backup, GameServer, Restore } from '../../crds/types.ts';
import { API_VERSION } from '../../crds/resource.ts';
import { isBackupOf, SERVER_UID_ANNOTATION } from '../../crds/backups.ts';
import { dataNode } from '../../crds/placement.ts';
import type { ResourceStore } from '../store/types.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { getOrUndefined } from './lookup.ts';
import { serverPhase } from './server-state.ts';
import type { WaitOptions, WaitOutcome, Waits } from './waits.ts';

export const BACKUP_NAME_ANNOTATION = 'gantry.dev/backup-name';
export const SERVER_LABEL = 'gantry.dev/server';
const RESTORABLE_PHASES: ReadonlySet<string> = new Set(['stopped', 'crashed']);

type Job = Backup | Restore;
export const jobFinished = (o: Job | undefined) => o?.status?.phase === 'completed' || o?.status?.phase === 'failed';

export interface CreateBackupInput {
  /** A display name (annotation gantry.dev/backup-name). */
  name?: string;
  ignore?: string[];
  ttl?: string;
  note?: string;
  createdBy?: string;
  /** Default: the GameServer. A Schedule passes itself (its backups go with it, kept by its retention). */
  owner?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean };
  /** Default `<server>-`. */
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const ownerRef = (s: GameServer) => ({ apiVersion: API_VERSION, kind: 'GameServer', name: s.metadata.name, uid: s.metadata.uid! });
const serverLabel = (s: Pick<GameServer, 'metadata'>): Record<string, string> => (s.metadata.name.length <= 63 ? { [SERVER_LABEL]: s.metadata.name } : {});

export class BackupOps {
  constructor(private readonly d: { store: ResourceStore; waits: Waits }) {}

  /** The server's backups (this very server's, not an earlier one's of the name), newest first. */
  async list(server: GameServer): Promise<Backup[]> {
    const list = await this.d.store.list<Backup>('Backup', { namespace: server.metadata.namespace });
    return list.items
      .filter((b) => isBackupOf(b, server))
      .sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)) || b.metadata.name.localeCompare(a.metadata.name));
  }

  /** The server's backup named (or with the uid) `id`; not_found otherwise. */
  async find(server: GameServer, id: string): Promise<Backup> {
    let b = await getOrUndefined<Backup>(this.d.store, 'Backup', server.metadata.namespace, id);
    b ??= (await this.list(server)).find((x) => x.metadata.uid === id);
    if (!b || !isBackupOf(b, server)) throw notFound(`server "${server.metadata.name}" has no backup "${id}"`);
    return b;
  }

  /**
   * Creates a Backup of the server. `server` may be a reference only (a Schedule's server that does not
   * exist: the Backup waits for it); without a uid it records none and needs an `owner`.
   */
  async create(server: Pick<GameServer, 'metadata'>, input: CreateBackupInput = {}): Promise<Backup> {
    const uid = server.metadata.uid;
    if (!uid && !input.owner) throw invalid(`server ${server.metadata.name} has no uid: a backup of it needs an owner`);
    const annotations: Record<string, string> = { ...(input.annotations ?? {}), ...(uid ? { [SERVER_UID_ANNOTATION]: uid } : {}) };
    if (input.name !== undefined) annotations[BACKUP_NAME_ANNOTATION] = input.name;
    if (input.createdBy) annotations['gantry.dev/created-by'] = input.createdBy;
    return this.d.store.create<Backup>({
      apiVersion: API_VERSION,
      kind: 'Backup',
      metadata: {
        generateName: input.generateName ?? `${server.metadata.name.slice(0, 200)}-`,
        namespace: server.metadata.namespace,
        labels: input.labels ?? serverLabel(server),
        annotations,
        ownerReferences: [input.owner ?? ownerRef(server as GameServer)],
      } as unknown as Backup['metadata'],
      spec: { serverRef: server.metadata.name, ...(input.ignore?.length ? { ignore: input.ignore } : {}), ...(input.ttl ? { ttl: input.ttl } : {}), ...(input.note ? { note: input.note } : {}) },
    });
  }

  /** Creates a Restore of `backup` into `server` after the checks the restore controller would fail it on. */
  async restore(server: GameServer, backup: Backup, opts: { truncate?: boolean } = {}): Promise<Restore> {
    const phase = server.status?.phase;
    if ((server.spec?.state ?? 'Stopped') !== 'Stopped' || !phase || !RESTORABLE_PHASES.has(phase)) {
      throw conflict(`Server must be stopped to restore a backup (status: ${serverPhase(server)}${server.spec?.state === 'Running' ? ', meant to run' : ''}); stop it first`, 'server_not_stopped');
    }
    if (backup.status?.phase !== 'completed') throw conflict(`backup ${backup.metadata.name} is ${backup.status?.phase ?? 'pending'}, not completed: it cannot be restored`, 'backup_not_completed');
    const serverNode = dataNode(server);
    if (backup.status.nodeName && serverNode !== backup.status.nodeName) {
      throw conflict(`backup ${backup.metadata.name} is stored on node ${backup.status.nodeName} but the server is on ${serverNode ? `node ${serverNode}` : 'no node'}; restoring across nodes is not supported`, 'cross_node');
    }
    const restores = await this.d.store.list<Restore>('Restore', { namespace: server.metadata.namespace });
    const running = restores.items.find((r) => r.spec!.serverRef === server.metadata.name && !r.metadata.deletionTimestamp && !jobFinished(r));
    if (running) throw conflict(`restore ${running.metadata.name} of server ${server.metadata.name} is still ${running.status?.phase ?? 'pending'}`, 'restore_in_progress');
    return this.d.store.create<Restore>({
      apiVersion: API_VERSION,
      kind: 'Restore',
      metadata: {
        generateName: `${server.metadata.name.slice(0, 200)}-restore-`,
        namespace: server.metadata.namespace,
        labels: serverLabel(server),
        ownerReferences: [ownerRef(server)],
      } as unknown as Restore['metadata'],
      spec: { backupRef: backup.metadata.name, serverRef: server.metadata.name, ...(opts.truncate ? { truncate: true } : {}) },
    });
  }

  /** Deletes a backup (the finalizer removes its archive); conflict while a restore reads it. */
  async delete(backup: Backup): Promise<void> {
    const restores = await this.d.store.list<Restore>('Restore', { namespace: backup.metadata.namespace });
    const using = restores.items.find((r) => r.spec!.backupRef === backup.metadata.name && r.status?.phase === 'in_progress');
    if (using) throw conflict(`restore ${using.metadata.name} is reading backup ${backup.metadata.name}; delete it when the restore is over`, 'restore_in_progress');
    await this.d.store.delete('Backup', backup.metadata.namespace, backup.metadata.name);
  }

  /** Waits until a Backup or Restore completed or failed, was deleted, or the timeout. */
  waitForJob<T extends Job>(kind: 'Backup' | 'Restore', obj: T, opts: WaitOptions): Promise<WaitOutcome<T>> {
    return this.d.waits.waitFor<T>(kind, obj, (o) => (jobFinished(o) ? 'reached' : undefined), opts);
  }
}
