// Player counts: the agent asks each running server whose container carries a query label
// (gantry.dev/query, from the template's `query` section) how many players are online, through
// gamedig (Minecraft server list ping, Source A2S, or any gamedig protocol), every intervalSeconds.
//
// - Bounded: at most `concurrency` queries in flight; a server due while the limit is reached waits
//   for the next tick. Each query has its own timeout (the template's timeoutSeconds), and a guard
//   past it, so a server that never answers costs one slot for that long and no more.
// - Quiet: a result is sent only when online/max/names/error changed since the last one sent for that
//   server (changes of a tick go out as one message), so 1,000 idle servers cost no traffic and no
//   status writes. current() is the full picture, sent after every (re)connect.
import { GameDig } from 'gamedig';
import { createLogger, type Logger } from '../../lib/log.ts';
import { LABEL_QUERY, type QuerySpec } from './spec.ts';

export interface PlayerSample {
  uid: string;
  /** When the query ran (ms since the epoch). */
  time: number;
  /** The last values a query returned (0 before the first success). */
  online: number;
  max: number;
  names?: string[];
  /** Why the latest query failed; absent when it succeeded. */
  error?: string;
}

export interface QueryAnswer {
  online: number;
  max: number;
  names: string[];
}

export type QueryFn = (q: { type: string; host: string; port: number; timeoutMs: number }) => Promise<QueryAnswer>;

export interface PlayerTarget {
  uid: string;
  labels?: Record<string, string>;
}

export interface PlayerPollerOptions {
  /** The running server containers (others are forgotten). */
  targets: () => Iterable<PlayerTarget>;
  /** Changed samples, at most once per tick. */
  onChange: (samples: PlayerSample[]) => void;
  query?: QueryFn;
  /** Queries in flight at most (default 8). */
  concurrency?: number;
  /** How often due servers are looked for (default 1 s). */
  tickMs?: number;
  now?: () => number;
  log?: Logger;
}

const MAX_NAMES = 100;
const MAX_NAME_LENGTH = 128;

interface Track {
  labelText: string;
  spec: QuerySpec | { error: string };
  nextAt: number;
  inFlight: boolean;
  last?: PlayerSample;
  sentKey?: string;
}

let gamedig: GameDig | undefined;

/** gamedig's query, reduced to counts and names. One GameDig (one UDP socket) per process. */
export const gamedigQuery: QueryFn = async ({ type, host, port, timeoutMs }) => {
  gamedig ??= new GameDig();
  const r = await gamedig.query({ type, host, port, socketTimeout: timeoutMs, attemptTimeout: timeoutMs, maxRetries: 1, givenPortOnly: true, portCache: false, requestPlayers: true });
  const names = r.players.map((p) => (typeof p.name === 'string' ? p.name : '')).filter((n) => n !== '');
  return { online: Number.isFinite(r.numplayers) ? r.numplayers : r.players.length, max: Number.isFinite(r.maxplayers) ? r.maxplayers : 0, names };
};

/** gamedig says "Failed all 1 attempts" and keeps the cause in the stack: the first cause line. */
export function queryErrorMessage(err: unknown): string {
  const e = err as Error;
  const cause = /Attempt #\d+ - Port=\d+ Retry=\d+:\n([^\n]+)/.exec(e?.stack ?? '')?.[1];
  return (cause ?? e?.message ?? String(err)).replace(/^Error: /, '').slice(0, 500);
}

const keyOf = (s: PlayerSample) => JSON.stringify([s.online, s.max, s.names ?? null, s.error ?? null]);

export class PlayerPoller {
  private readonly tracks = new Map<string, Track>();
  private readonly pending = new Map<string, PlayerSample>();
  private readonly query: QueryFn;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  constructor(private readonly opts: PlayerPollerOptions) {
    this.query = opts.query ?? gamedigQuery;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLogger({ component: 'agent.players' });
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The latest sample of every server still queried (for a fresh connection). */
  current(): PlayerSample[] {
    const out: PlayerSample[] = [];
    for (const t of this.tracks.values()) if (t.last) out.push(t.last);
    return out;
  }

  /** Queries in flight now. */
  get active(): number {
    return this.inFlight;
  }

  /** One round: forget servers no longer running, start the due queries (bounded), send what changed. */
  tick(): void {
    const now = this.now();
    const seen = new Set<string>();
    const due: [string, Track, Extract<QuerySpec, { type: string }>][] = [];
    for (const t of this.opts.targets()) {
      const text = t.labels?.[LABEL_QUERY];
      if (!text) continue;
      seen.add(t.uid);
      let track = this.tracks.get(t.uid);
      if (!track || track.labelText !== text) {
        // new, or re-created with other query settings: start over
        track = { labelText: text, spec: parseSpec(text), nextAt: now, inFlight: false };
        this.tracks.set(t.uid, track);
      }
      if (track.inFlight || now < track.nextAt) continue;
      if ('error' in track.spec) {
        this.record(t.uid, track, { uid: t.uid, time: now, online: 0, max: 0, error: track.spec.error });
        track.nextAt = Number.POSITIVE_INFINITY;
        continue;
      }
      due.push([t.uid, track, track.spec]);
    }
    // The longest overdue first: with more servers due than free slots, none is starved.
    due.sort((a, b) => a[1].nextAt - b[1].nextAt);
    for (const [uid, track, spec] of due) {
      if (this.inFlight >= this.concurrency) break;
      this.run(uid, track, spec, now);
    }
    for (const uid of [...this.tracks.keys()]) {
      if (!seen.has(uid)) {
        this.tracks.delete(uid);
        this.pending.delete(uid);
      }
    }
    this.flush();
  }

  private run(uid: string, track: Track, spec: Extract<QuerySpec, { type: string }>, now: number): void {
    track.inFlight = true;
    track.nextAt = now + spec.intervalSeconds * 1000;
    this.inFlight++;
    const timeoutMs = spec.timeoutSeconds * 1000;
    let guard: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error(`no answer within ${spec.timeoutSeconds} s`)), timeoutMs + 1000);
    });
    Promise.race([this.query({ type: spec.type, host: spec.host, port: spec.port, timeoutMs }), timedOut])
      .then(
        (a) => {
          const names = a.names.slice(0, MAX_NAMES).map((n) => n.slice(0, MAX_NAME_LENGTH));
          return { uid, time: now, online: Math.max(0, Math.trunc(a.online)), max: Math.max(0, Math.trunc(a.max)), ...(names.length ? { names } : {}) } as PlayerSample;
        },
        (err) => ({ uid, time: now, online: track.last?.online ?? 0, max: track.last?.max ?? 0, ...(track.last?.names ? { names: track.last.names } : {}), error: queryErrorMessage(err) }) as PlayerSample,
      )
      .then((sample) => {
        clearTimeout(guard);
        this.inFlight--;
        track.inFlight = false;
        if (this.tracks.get(uid) !== track) return; // stopped or re-created meanwhile
        if (sample.error && !track.last?.error) this.log.info('player query failed', { uid, type: spec.type, port: spec.port, error: sample.error });
        this.record(uid, track, sample);
      });
  }

  private record(uid: string, track: Track, sample: PlayerSample): void {
    track.last = sample;
    const key = keyOf(sample);
    if (key === track.sentKey) return;
    track.sentKey = key;
    this.pending.set(uid, sample);
  }

  private flush(): void {
    if (this.pending.size === 0) return;
    const samples = [...this.pending.values()];
    this.pending.clear();
    this.opts.onChange(samples);
  }
}

function parseSpec(text: string): QuerySpec {
  try {
    const v = JSON.parse(text) as QuerySpec;
    if ('error' in v && typeof v.error === 'string') return v;
    if (typeof (v as { type?: unknown }).type === 'string' && typeof (v as { port?: unknown }).port === 'number') return v;
  } catch {
    // fall through
  }
  return { error: `the container's ${LABEL_QUERY} label is not a query spec` };
}
