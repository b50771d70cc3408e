// Templates (Catalyst "Templates") ↔ ServerTemplate; api/catalyst/templates.ts holds the mapping.
// Any signed-in user may list and read templates (choosing one is how a server is created); values of
// variables marked userViewable: false are shown only to callers with template.read.
import type { ServerTemplate } from '../../crds/types.ts';
import { route, ok, done, type RouteSpec } from '../http/route.ts';
import { can } from '../rbac/access.ts';
import { fromCatalystTemplate, newTemplate, templateBodySchema, toCatalystTemplate } from '../catalyst/templates.ts';
import type { ApiServices } from '../http/services.ts';

const load = (svc: ApiServices, id: string): Promise<ServerTemplate> => svc.ops.templates.require(id);

export const templateRoutes: readonly RouteSpec[] = [
  route({
    method: 'GET',
    path: '/api/templates',
    summary: 'List server templates',
    tag: 'templates',
    access: 'authenticated',
    handler: async ({ c, svc, principal }) => {
      const list = await svc.store.list<ServerTemplate>('ServerTemplate');
      const reveal = can(principal!, 'template.read');
      return ok(c, list.items.map((t) => toCatalystTemplate(t, { revealSecrets: reveal })));
    },
  }),

  route({
    method: 'GET',
    path: '/api/templates/:templateId',
    summary: 'Get one server template',
    tag: 'templates',
    access: 'authenticated',
    handler: async ({ c, svc, principal, params }) => ok(c, toCatalystTemplate(await load(svc, params.templateId!), { revealSecrets: can(principal!, 'template.read') })),
  }),

  route({
    method: 'POST',
    path: '/api/templates',
    summary: 'Create a server template (id derived from name unless given)',
    tag: 'templates',
    access: { permission: 'template.create' },
    body: templateBodySchema(true),
    responses: { 201: 'Created', 409: 'A template with that id exists' },
    handler: async ({ c, svc, body, audit }) => {
      const t = newTemplate(body);
      audit.resourceType = 'template';
      audit.resourceId = t.metadata.name;
      const created = await svc.ops.templates.create(t);
      return ok(c, toCatalystTemplate(created, { revealSecrets: true }), 201);
    },
  }),

  route({
    method: 'PUT',
    path: '/api/templates/:templateId',
    summary: 'Update a server template (fields left out are kept); running servers pick changes up at their next restart',
    tag: 'templates',
    access: { permission: 'template.update' },
    body: templateBodySchema(false),
    handler: async ({ c, svc, body, params, audit }) => {
      audit.resourceType = 'template';
      audit.resourceId = params.templateId;
      const current = await load(svc, params.templateId!);
      const spec = fromCatalystTemplate(body, current.spec);
      const updated = await svc.ops.templates.replaceSpec(current, spec);
      return ok(c, toCatalystTemplate(updated, { revealSecrets: true }));
    },
  }),

  route({
    method: 'DELETE',
    path: '/api/templates/:templateId',
    summary: 'Delete a server template no server uses',
    tag: 'templates',
    access: { permission: 'template.delete' },
    responses: { 409: 'Servers still use the template' },
    handler: async ({ c, svc, params, audit }) => {
      audit.resourceType = 'template';
      audit.resourceId = params.templateId;
      const t = await load(svc, params.templateId!);
      await svc.ops.templates.delete(t);
      return done(c, 'Template deleted', { templateId: t.metadata.name });
    },
  }),
];
