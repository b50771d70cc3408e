// Small readings of a GameServer every operation and dialect shares: its phase, whether it is stopped
// for good, one-shot trigger stamps, and the port bindings in effect.
import type { GameServer, GameServerPhase, ServerPort, ServerTemplate } from '../../crds/types.ts';
import { isAdmitted } from '../../crds/placement.ts';
import { requestedPorts } from '../scheduling/ports.ts';
import { OpError } from './errors.ts';

export function serverPhase(s: GameServer): GameServerPhase {
  return s.status?.phase ?? (s.spec?.suspended ? 'suspended' : 'stopped');
}

const STOPPED_PHASES: ReadonlySet<GameServerPhase> = new Set(['stopped', 'crashed', 'error', 'suspended']);

/**
 * Stopped now and meant to stay stopped: resources, ports and deletion may change. A server being
 * installed while meant to stay stopped counts (the game never runs: a change re-creates the
 * container once the install is done, a deletion waits for it at the agent).
 */
export function isStopped(s: GameServer): boolean {
  const phase = serverPhase(s);
  const stays = s.spec?.state !== 'Running' || !!s.spec?.suspended;
  return stays && (STOPPED_PHASES.has(phase) || phase === 'installing');
}

/** Refuses (invalid: the request cannot be done in this state; reason server_not_stopped) unless the server is stopped for good. */
export function mustBeStopped(s: GameServer, what: string): void {
  if (!isStopped(s)) throw new OpError('invalid', `Server must be stopped ${what} (status: ${serverPhase(s)}${s.spec?.state === 'Running' && STOPPED_PHASES.has(serverPhase(s)) ? ', desired state Running' : ''}); stop it first`, 'server_not_stopped');
}

/** A one-shot trigger timestamp strictly newer than the previous one, even within the same millisecond. */
export function nextTrigger(now: number, previous: string | undefined): string {
  const prev = previous ? Date.parse(previous) : NaN;
  const at = Number.isFinite(prev) && prev >= now ? prev + 1 : now;
  return new Date(at).toISOString();
}

/** The bindings in effect (status.ports, with allocated host ports) once admitted, else what it asks for. */
export function effectivePorts(s: GameServer, template: ServerTemplate | undefined): ServerPort[] {
  if (isAdmitted(s) && s.status?.ports?.length && !s.spec?.ports) return s.status.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  const requested = requestedPorts(s, template);
  // spec.ports given: fill allocated host ports from status where the spec leaves them to the allocator.
  return requested.map((p) => {
    if (p.hostPort) return p;
    const got = s.status?.ports?.find((q) => q.containerPort === p.containerPort && (q.protocol ?? 'TCP') === p.protocol);
    return got?.hostPort ? { ...p, hostPort: got.hostPort } : p;
  });
}
