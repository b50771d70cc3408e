// Printer columns (a CRD's additionalPrinterColumns) evaluated on an object: shared by the API's
// Table answers and `gantry get`, so both print the same cells.
import type { PrinterColumn } from './registry.ts';

/** Evaluates the simple JSONPath subset printer columns use: `.a.b`, `.a[0].b`, `.metadata.labels.x\.y`. */
export function evalJsonPath(obj: unknown, jsonPath: string): unknown {
  const tokens = jsonPath
    .replace(/^\$/, '')
    .match(/(\\\.|[^.[\]])+|\[\d+\]/g) ?? [];
  let cur: unknown = obj;
  for (const raw of tokens) {
    if (cur === null || cur === undefined) return undefined;
    const idx = /^\[(\d+)\]$/.exec(raw);
    const key = idx ? Number(idx[1]) : raw.replace(/\\\./g, '.');
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

/** kubectl's short age: 45s, 12m, 5h, 3d (apimachinery's HumanDuration, coarsened). */
export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * A column's cell as an apiserver puts it in a Table: dates become an age, strings their text,
 * numbers and booleans stay typed, a missing value is null (kubectl prints `<none>`).
 */
export function columnCell(obj: unknown, column: Pick<PrinterColumn, 'jsonPath' | 'type'>, now = Date.now()): string | number | boolean | null {
  const value = evalJsonPath(obj, column.jsonPath);
  if (value === undefined || value === null) return null;
  if (column.type === 'date') return typeof value === 'string' ? age(value, now) : null;
  if (column.type === 'string') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (column.type === 'integer' || column.type === 'number') return typeof value === 'number' ? value : null;
  if (column.type === 'boolean') return typeof value === 'boolean' ? value : null;
  return null;
}
