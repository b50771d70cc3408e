// `?watch=1`: a stream of newline-delimited watch events, as an apiserver sends them. Objects are
// Tables when the client asked for one (column definitions in the first event only, as kubectl
// expects to save bandwidth); a resourceVersion older than the store's history answers 200 and one
// ERROR event carrying a 410 Status (client-go then relists); BOOKMARKs on request. A caller who may
// not read every object sees only the events of objects they may read.
import { stream } from 'hono/streaming';
import type { KindInfo } from '../../crds/registry.ts';
import type { Resource } from '../../crds/resource.ts';
import { badRequest, isStoreError } from '../../controller/store/errors.ts';
import type { Watch, WatchEvent } from '../../controller/store/types.ts';
import type { KubeContext, KubeDeps } from './context.ts';
import type { Rendering } from './negotiate.ts';
import { toStatus } from './status.ts';
import { crdColumns, toTable } from './table.ts';

const DEFAULT_TIMEOUT_S = 30 * 60;

export async function watchResponse(c: KubeContext, deps: KubeDeps, info: KindInfo, ns: string | undefined, rendering: Rendering): Promise<Response> {
  const { store } = deps.svc;
  const p = c.get('principal');
  const q = c.req.query();
  if (q.sendInitialEvents === 'true') throw badRequest('sendInitialEvents is not supported by this server: list, then watch from the list\'s resourceVersion');
  let timeoutS = DEFAULT_TIMEOUT_S;
  if (q.timeoutSeconds !== undefined && q.timeoutSeconds !== '') {
    timeoutS = Number(q.timeoutSeconds);
    if (!Number.isInteger(timeoutS) || timeoutS < 0) throw badRequest(`timeoutSeconds must be a non-negative integer, not "${q.timeoutSeconds}"`);
  }
  const filtered = !deps.access.readsAll(p, info);
  const queue: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  let watch: Watch | undefined;
  try {
    watch = await store.watch(
      {
        kind: info.kind,
        namespace: ns,
        labelSelector: q.labelSelector,
        fieldSelector: q.fieldSelector,
        // "" and absent mean "from now"; "0" the current objects first (the store's meaning of both).
        resourceVersion: q.resourceVersion || undefined,
        bookmarkIntervalMs: q.allowWatchBookmarks === 'true' ? deps.bookmarkIntervalMs : 0,
      },
      (ev) => {
        queue.push(ev);
        wake?.();
      },
    );
  } catch (err) {
    if (!isStoreError(err, 'Gone')) throw err;
    // Too old: an apiserver answers the watch and sends the 410 as its only event.
    queue.push({ type: 'ERROR', object: toStatus(err) as unknown as Resource });
  }

  const columns = crdColumns(info);
  let headersSent = false;
  const encode = (ev: WatchEvent): string => {
    if (rendering.as !== 'table' || ev.type === 'ERROR') return JSON.stringify(ev);
    const rows = ev.type === 'BOOKMARK' ? [] : [ev.object];
    const table = toTable(columns, rows, rendering, { resourceVersion: ev.object.metadata?.resourceVersion }, { noHeaders: headersSent });
    headersSent = true;
    return JSON.stringify({ type: ev.type, object: table });
  };
  c.header('Content-Type', 'application/json');
  c.header('Cache-Control', 'no-cache, private');
  return stream(c, async (s) => {
    let open = true;
    const close = () => {
      open = false;
      wake?.();
    };
    s.onAbort(close);
    const deadline = timeoutS > 0 ? setTimeout(close, timeoutS * 1000) : undefined;
    try {
      while (open) {
        while (queue.length && open) {
          const ev = queue.shift()!;
          if (filtered && ev.type !== 'BOOKMARK' && ev.type !== 'ERROR' && !(await deps.access.canRead(p, info, ev.object))) continue;
          await s.write(encode(ev) + '\n');
          if (ev.type === 'ERROR') open = false;
        }
        if (!open) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      if (deadline) clearTimeout(deadline);
      watch?.stop();
    }
  });
}
