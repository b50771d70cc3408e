// A hand-driven clock for the controller runtime's timers: tests move time, nothing waits on the machine.
import type { Clock } from '../../controller/runtime/workqueue.ts';

interface Timer {
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  t = 0;
  private id = 0;
  private readonly timers = new Map<number, Timer>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.id;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }

  private earliest(limit = Infinity): [number, Timer] | undefined {
    let next: [number, Timer] | undefined;
    for (const e of this.timers) if (e[1].at <= limit && (!next || e[1].at < next[1].at)) next = e;
    return next;
  }

  private fire([id, timer]: [number, Timer]): void {
    this.timers.delete(id);
    this.t = timer.at;
    timer.fn();
  }

  /** Runs the earliest timer; returns how far time moved. */
  fireNext(): number {
    const next = this.earliest();
    if (!next) throw new Error('no timer pending');
    const from = this.t;
    this.fire(next);
    return this.t - from;
  }

  /** Moves time forward, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let next = this.earliest(end); next; next = this.earliest(end)) this.fire(next);
    this.t = end;
  }
}
