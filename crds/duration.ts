// Duration strings of the CRDs (Backup.spec.ttl): Go-style `720h`, `1h30m`, `500ms`, plus `d` for days
// because operators write retention in days. Same grammar as the schema's pattern.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^([0-9]+(ms|s|m|h|d))+$/;
const PART = /([0-9]+)(ms|s|m|h|d)/g;

/** Milliseconds in a duration string; throws on anything the schema would refuse. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text)) throw new Error(`invalid duration "${text}" (use e.g. 30m, 720h, 7d, 1h30m)`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(PART)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}
