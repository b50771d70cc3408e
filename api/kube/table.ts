// meta.k8s.io Tables: what `kubectl get` prints. For Gantry's kinds the columns are the CRD's
// additionalPrinterColumns after a Name column (priority > 0 ones show with `-o wide`), cells
// computed as an apiserver's CRD table convertor does (dates as ages, missing values null).
import type { KindInfo } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import { columnCell } from '../../crds/columns.ts';
import type { Rendering } from './negotiate.ts';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions?: ColumnDefinition[];
  rows: TableRow[];
}

type TableRendering = Extract<Rendering, { as: 'table' }>;

const NAME_COLUMN: ColumnDefinition = {
  name: 'Name', type: 'string', format: 'name', priority: 0,
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.',
};

/** The columns and cells of one kind of object: Gantry's kinds from their CRD, core kinds by hand. */
export interface Columns<T> {
  definitions: ColumnDefinition[];
  cells(obj: T, now: number): unknown[];
}

export function crdColumns(info: KindInfo): Columns<Resource> {
  const defs = info.printerColumns.map((c) => ({ name: c.name, type: c.type, format: '', description: c.description ?? '', priority: c.priority ?? 0 }));
  return {
    definitions: [NAME_COLUMN, ...defs],
    cells: (obj, now) => [obj.metadata.name, ...info.printerColumns.map((c) => columnCell(obj, c, now))],
  };
}

/** The object a row carries: kubectl needs metadata (namespace column, --show-labels); `Object` is the whole object. */
function rowObject(obj: { metadata: unknown; apiVersion?: string; kind?: string }, r: TableRendering): unknown {
  if (r.includeObject === 'None') return undefined;
  if (r.includeObject === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${r.version}`, metadata: obj.metadata };
}

export function toTable<T extends { metadata: unknown }>(
  columns: Columns<T>,
  items: readonly T[],
  r: TableRendering,
  meta: { resourceVersion?: string; continue?: string } = {},
  opts: { noHeaders?: boolean; now?: number } = {},
): Table {
  const now = opts.now ?? Date.now();
  const table: Table = {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${r.version}`,
    metadata: { ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}), ...(meta.continue ? { continue: meta.continue } : {}) },
    rows: items.map((obj) => {
      const row: TableRow = { cells: columns.cells(obj, now) };
      const o = rowObject(obj as never, r);
      if (o !== undefined) row.object = o;
      return row;
    }),
  };
  if (!opts.noHeaders) table.columnDefinitions = columns.definitions;
  return table;
}
