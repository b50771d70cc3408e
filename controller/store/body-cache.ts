// The latest committed JSON of recently used objects, so a get — and the read half of every update —
// costs no round trip to SQLite. Coherent only because one process owns the database and fills or
// changes entries while holding the connection lock (see SqliteStore.write and load).

export class BodyCache {
  private readonly entries = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  static key(kind: string, namespace: string, name: string): string {
    return `${kind}\u0000${namespace}\u0000${name}`;
  }

  get(key: string): string | undefined {
    const body = this.entries.get(key);
    if (body !== undefined) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, body);
    }
    return body;
  }

  set(key: string, body: string): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, body);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
