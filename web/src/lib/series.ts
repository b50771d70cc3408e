// Live samples per server for the sparklines: a fixed-size ring per metric, oldest first when read.
export class Ring {
  private readonly buf: number[];
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<number>(capacity);
  }

  push(v: number): void {
    if (this.size < this.capacity) {
      this.buf[(this.start + this.size++) % this.capacity] = v;
    } else {
      this.buf[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  values(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.buf[(this.start + i) % this.capacity]!;
    return out;
  }

  get length(): number {
    return this.size;
  }

  last(): number | undefined {
    return this.size ? this.buf[(this.start + this.size - 1) % this.capacity] : undefined;
  }
}

export interface ServerSeries {
  time: Ring;
  cpu: Ring;
  memoryMb: Ring;
}

export const newSeries = (n = 60): ServerSeries => ({ time: new Ring(n), cpu: new Ring(n), memoryMb: new Ring(n) });

/** The metrics ranges the graphs offer, with the bucket each asks the API for. */
export const RANGES: readonly { key: string; ms: number; interval?: string }[] = [
  { key: '15m', ms: 15 * 60_000 },
  { key: '1h', ms: 3_600_000 },
  { key: '6h', ms: 6 * 3_600_000, interval: '1m' },
  { key: '24h', ms: 24 * 3_600_000, interval: '5m' },
  { key: '7d', ms: 7 * 86_400_000, interval: '1h' },
  { key: '30d', ms: 30 * 86_400_000, interval: '6h' },
];
