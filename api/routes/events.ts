// Events, served in the Kubernetes core/v1 shape so `kubectl get events` can read them later.
import { Hono, type Context } from 'hono';
import type { EventRecorder } from '../../controller/events/recorder.ts';
import { badRequest } from '../../controller/store/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { statusResponse } from '../status.ts';

export function eventRoutes({ events, log }: { events: EventRecorder; log: Logger }): Hono {
  const app = new Hono();
  const list = async (c: Context) => {
    try {
      const limitRaw = c.req.query('limit');
      const limit = limitRaw === undefined ? undefined : Number(limitRaw);
      if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) throw badRequest(`limit must be a positive integer, not "${limitRaw}"`);
      // fieldSelector=involvedObject.kind=X,involvedObject.name=Y, as kubectl sends it.
      const fields = new Map(
        (c.req.query('fieldSelector') ?? '')
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('=') as [string, string]),
      );
      const items = await events.list({
        namespace: c.req.param('ns'),
        kind: fields.get('involvedObject.kind'),
        name: fields.get('involvedObject.name'),
        limit,
      });
      return c.json({ apiVersion: 'v1', kind: 'EventList', metadata: {}, items });
    } catch (err) {
      return statusResponse(c, err, log);
    }
  };
  app.get('/api/v1/events', list);
  app.get('/api/v1/namespaces/:ns/events', list);
  return app;
}
