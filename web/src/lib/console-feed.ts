// Console output on its way to the terminal. Lines arrive one WebSocket message each (thousands a
// second from a chatty server); writing each to xterm separately would re-render per line. The feed
// queues them and writes everything queued once per animation frame, as one string — so the terminal
// renders at the screen's rate whatever the line rate, and no line is ever dropped here (the server
// says so itself when it drops lines for a slow client: `dropped` notices, shown in the terminal).
export interface FeedSink {
  write(data: string): void;
}

export type Scheduler = (fn: () => void) => void;

export interface FeedStats {
  lines: number;
  writes: number;
}

export class ConsoleFeed {
  private queue: string[] = [];
  private scheduled = false;
  readonly stats: FeedStats = { lines: 0, writes: 0 };

  constructor(
    private readonly sink: FeedSink,
    private readonly schedule: Scheduler,
  ) {}

  /** One line as the API sends it (`data` ends with \n); terminals want \r\n. */
  push(data: string): void {
    this.queue.push(data.endsWith('\n') ? data.slice(0, -1).replace(/\r?\n/g, '\r\n') + '\r\n' : data.replace(/\r?\n/g, '\r\n'));
    this.stats.lines++;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** A notice from the panel itself (yellow, so it is not mistaken for the game's output). */
  notice(text: string): void {
    this.push(`\x1b[33m[panel] ${text}\x1b[0m\n`);
  }

  flush(): void {
    this.scheduled = false;
    if (!this.queue.length) return;
    const out = this.queue.join('');
    this.queue = [];
    this.stats.writes++;
    this.sink.write(out);
  }

  get pending(): number {
    return this.queue.length;
  }
}

/** Commands typed in the console, newest last; ↑/↓ walk them like a shell. Kept per server. */
export class CommandHistory {
  private items: string[];
  private cursor: number;

  constructor(
    initial: string[] = [],
    private readonly max = 100,
  ) {
    this.items = initial.slice(-max);
    this.cursor = this.items.length;
  }

  add(cmd: string): void {
    if (!cmd.trim()) return;
    if (this.items[this.items.length - 1] !== cmd) this.items.push(cmd);
    if (this.items.length > this.max) this.items.shift();
    this.cursor = this.items.length;
  }

  /** The previous command (↑), or undefined at the oldest. */
  up(): string | undefined {
    if (this.cursor === 0) return this.items.length ? this.items[0] : undefined;
    this.cursor--;
    return this.items[this.cursor];
  }

  /** The next command (↓); '' past the newest (an empty prompt again). */
  down(): string {
    if (this.cursor >= this.items.length - 1) {
      this.cursor = this.items.length;
      return '';
    }
    this.cursor++;
    return this.items[this.cursor]!;
  }

  list(): string[] {
    return [...this.items];
  }
}
