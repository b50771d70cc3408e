// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
//
// - A candidate reads the Lease every retryPeriod. It takes the lease when there is none, when it is
//   already the holder, or when the holder has not renewed for leaseDuration — measured on this
//   process's clock from when this candidate last saw the record change, never by comparing the
//   holder's timestamps with ours (clocks of two machines disagree).
// - Taking and renewing are an update with the resourceVersion just read: of two candidates writing
//   at once, the apiserver lets one through and answers Conflict to the other.
// - The leader renews every retryPeriod. If it has not renewed for renewDeadline (< leaseDuration) it
//   has lost: onStoppedLeading fires — on a timer of its own, so a renewal that hangs cannot delay it —
//   and the process must stop acting (gantry controller exits, and Kubernetes restarts it as a
//   candidate). Every lease call gives up after renewDeadline. Because renewDeadline < leaseDuration, the old leader has
//   stopped before any other candidate can see the lease as expired: no two leaders act at once.
// - A clean stop (SIGTERM) releases the lease (holder cleared), so the standby takes over at once.
import * as k8s from '@kubernetes/client-node';
import { rootLogger, type Logger } from '../../lib/log.ts';
import { toStoreError } from '../store/kube-store.ts';
import { isStoreError } from '../store/errors.ts';

export interface LeaderElectionOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  name: string;
  /** This candidate's identity (the pod name in a cluster). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
  onStartedLeading: () => void | Promise<void>;
  /** The lease was lost (not renewed within renewDeadline) or released: stop acting now. */
  onStoppedLeading: (why: string) => void;
  /** Another holder was observed (for logs and readiness of standbys). */
  onNewLeader?: (identity: string) => void;
  now?: () => number;
}

interface Observed {
  holder: string;
  resourceVersion: string;
  /** When this process saw the record change (its own clock). */
  at: number;
  durationMs: number;
}

export const LEASE_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private readonly opts: Required<Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>> & LeaderElectionOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private observed: Observed | undefined;
  private observedRecord = '';
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.opts = { ...LEASE_DEFAULTS, ...opts };
    if (!(this.opts.renewDeadlineMs < this.opts.leaseDurationMs)) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (!(this.opts.retryPeriodMs < this.opts.renewDeadlineMs)) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
    this.api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    this.log = (opts.log ?? rootLogger).child({ component: 'leader-election', lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen ('' when none). */
  get leader(): string {
    return this.observed?.holder ?? '';
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops campaigning; a leader releases the lease so a standby need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      await this.release().catch((err: unknown) => this.log.warn('could not release the lease', { err }));
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = this.now();
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn('lease read or write failed', { err: (err as Error).message });
      }
      if (this.stopped) break;
      if (ok) {
        this.armDeadline(started);
        if (!this.leading) {
          this.leading = true;
          this.log.info('became the leader');
          try {
            await this.opts.onStartedLeading();
          } catch (err) {
            this.log.error('starting as the leader failed', { err });
            this.lose(`starting as the leader failed: ${(err as Error).message}`);
            return;
          }
        }
      }
      await this.sleep(this.opts.retryPeriodMs);
    }
  }

  /**
   * The renew deadline runs on a timer of its own, not between rounds: a renewal that hangs (a slow
   * or partitioned apiserver) must not keep this replica acting past the point where another may
   * see the lease expire. Measured from the start of the last round that renewed.
   */
  private armDeadline(renewedAt: number): void {
    if (this.deadline) clearTimeout(this.deadline);
    const left = Math.max(0, this.opts.renewDeadlineMs - (this.now() - renewedAt));
    this.deadline = setTimeout(() => this.lose('the lease was not renewed within the renew deadline'), left);
  }

  /** Leadership is over for this elector: it stops campaigning (the process is expected to exit). */
  private lose(why: string): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    if (!this.leading || this.stopped) return;
    this.leading = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    this.log.error('lost the lease', { why, renewDeadlineMs: this.opts.renewDeadlineMs });
    this.opts.onStoppedLeading(why);
  }

  /** One round: true when this candidate holds the lease after it. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = this.now();
    const nowTime = new k8s.V1MicroTime(now);
    const durationS = Math.ceil(this.opts.leaseDurationMs / 1000);
    let lease: k8s.V1Lease;
    try {
      lease = await this.bounded(this.api.readNamespacedLease({ name, namespace }), 'read');
    } catch (err) {
      const e = toStoreError(err, `read lease ${namespace}/${name}`);
      if (!isStoreError(e, 'NotFound')) throw e;
      try {
        const created = await this.bounded(this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: durationS, acquireTime: nowTime, renewTime: nowTime, leaseTransitions: 0 },
          },
        }), 'create');
        this.see(created, now);
        return true;
      } catch (cerr) {
        const ce = toStoreError(cerr, `create lease ${namespace}/${name}`);
        if (isStoreError(ce, 'AlreadyExists')) return false;
        throw ce;
      }
    }
    this.see(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const mine = holder === identity;
    const expired = !holder || this.now() >= this.observed!.at + this.observed!.durationMs;
    if (!mine && !expired) return false;
    const body: k8s.V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationS,
        renewTime: nowTime,
        acquireTime: mine && spec.acquireTime ? new k8s.V1MicroTime(new Date(spec.acquireTime).getTime()) : nowTime,
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const updated = await this.bounded(this.api.replaceNamespacedLease({ name, namespace, body }), 'update');
      this.see(updated, now);
      if (!mine) this.log.info('took over the lease', { from: holder || '(none)', transitions: updated.spec?.leaseTransitions });
      return true;
    } catch (err) {
      const e = toStoreError(err, `update lease ${namespace}/${name}`);
      if (isStoreError(e, 'Conflict')) return false; // another candidate wrote first
      throw e;
    }
  }

  /** A lease call that gives up after the renew deadline: a hung request must not hold the loop (or stop()). */
  private bounded<T>(call: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`lease ${what} got no answer within ${this.opts.renewDeadlineMs} ms`)), this.opts.renewDeadlineMs);
    });
    call.catch(() => undefined); // a late failure after the timeout is nobody's to handle
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /** Notes the record as read; the expiry clock restarts only when the record changed. */
  private see(lease: k8s.V1Lease, at: number): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity ?? '', String(spec.renewTime ?? ''), spec.leaseTransitions ?? 0]);
    const holder = spec.holderIdentity ?? '';
    if (record !== this.observedRecord || !this.observed) {
      if (holder && holder !== this.observed?.holder && holder !== this.opts.identity) {
        this.log.info('observed a leader', { leader: holder });
        this.opts.onNewLeader?.(holder);
      }
      this.observedRecord = record;
      this.observed = { holder, resourceVersion: lease.metadata?.resourceVersion ?? '', at, durationMs: (spec.leaseDurationSeconds ?? Math.ceil(this.opts.leaseDurationMs / 1000)) * 1000 };
    }
  }

  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    const lease = await this.bounded(this.api.readNamespacedLease({ name, namespace }), 'read');
    if (lease.spec?.holderIdentity !== identity) return;
    const nowTime = new k8s.V1MicroTime(this.now());
    await this.bounded(this.api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: nowTime, acquireTime: nowTime } },
    }), 'release');
    this.log.info('released the lease');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}
