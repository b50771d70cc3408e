// Which container runs have printed their template's ready line. Console output is not state, so
// this lives in memory: a controller restart rebuilds it from the agent's console history.
import type { ConsoleLine } from '../../../agent/protocol.ts';

/** Docker's StartedAt and the agent's line timestamps come from two clocks on one machine. */
const CLOCK_SLACK_MS = 500;

export class ReadyTracker {
  /** Server uid → time (agent clock, ms) of the newest line that matched its ready pattern. */
  private readonly matchedAt = new Map<string, number>();
  /** Server uid → the run (startedAt) whose console history was already scanned. */
  private readonly scanned = new Map<string, string>();

  /** Records matching lines; true when a line matched (so the caller can enqueue the server). */
  observe(uid: string, pattern: RegExp | undefined, lines: readonly ConsoleLine[]): boolean {
    if (!pattern) return false;
    let hit = false;
    for (const l of lines) {
      if (l.stream === 'system' || !pattern.test(l.line)) continue;
      this.matchedAt.set(uid, Math.max(this.matchedAt.get(uid) ?? 0, l.ts));
      hit = true;
    }
    return hit;
  }

  /** The ready line was printed by the run that started at `startedAt`. */
  matchedSince(uid: string, startedAt: string | undefined): boolean {
    const at = this.matchedAt.get(uid);
    if (at === undefined || !startedAt) return false;
    return at >= Date.parse(startedAt) - CLOCK_SLACK_MS;
  }

  /** True once per run: the caller should fetch and observe() the agent's console history. */
  needsHistoryScan(uid: string, startedAt: string | undefined): boolean {
    if (!startedAt || this.scanned.get(uid) === startedAt) return false;
    this.scanned.set(uid, startedAt);
    return true;
  }

  forget(uid: string): void {
    this.matchedAt.delete(uid);
    this.scanned.delete(uid);
  }
}
