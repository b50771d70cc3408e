// Importing a Pterodactyl egg as a ServerTemplate (the conversion: api/import/pterodactyl-egg.ts).
// `?dryRun=true` answers the template it would create, so a UI or a script can look before it writes.
import { API_VERSION } from '../../crds/resource.ts';
import type { ServerTemplate } from '../../crds/types.ts';
import { route, ok, type RouteSpec } from '../http/route.ts';
import { ApiError, conflict } from '../http/errors.ts';
import { getOrUndefined, resourceName } from '../catalyst/common.ts';
import { toCatalystTemplate } from '../catalyst/templates.ts';
import { convertEgg } from '../import/pterodactyl-egg.ts';

export const templateImportRoutes: RouteSpec[] = [
  route({
    method: 'POST',
    path: '/api/templates/import/pterodactyl',
    summary: 'Create a server template from a Pterodactyl egg (PTDL_v1/v2 JSON); ?dryRun=true only converts',
    tag: 'templates',
    access: { permission: 'template.create' },
    body: { type: 'object', description: 'The egg as Pterodactyl exports it' },
    query: {
      dryRun: { type: 'boolean', description: 'Answer the converted template without creating it' },
      id: { type: 'string', maxLength: 63, description: 'The template id (DNS-1123 label); default: derived from the egg\'s name' },
    },
    responses: { 200: 'dry run: the template it would create, with warnings', 201: 'created, with warnings about what could not be carried over', 400: 'not an egg', 409: 'a template with that id exists' },
    handler: async ({ c, svc, body, query, audit }) => {
      const { name, spec, warnings } = convertEgg(body);
      const id = resourceName('template', query.id, name);
      audit.resourceType = 'template';
      audit.resourceId = id;
      const t: ServerTemplate = { apiVersion: API_VERSION, kind: 'ServerTemplate', metadata: { name: id, labels: { 'gantry.dev/imported-from': 'pterodactyl' } }, spec };
      if (await getOrUndefined(svc.store, 'ServerTemplate', undefined, id)) throw conflict(`A template with id "${id}" already exists; pass ?id= to import under another id`, 'already_exists');
      if (query.dryRun) {
        // Validated like a create would be, without writing.
        const errors = svc.registry.validate(structuredClone(t) as unknown as Parameters<typeof svc.registry.validate>[0]);
        if (errors.length) throw new ApiError(422, `the converted template is not valid: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, 'invalid');
        return ok(c, { template: toCatalystTemplate({ ...t, metadata: { ...t.metadata } }, { revealSecrets: true }), warnings, dryRun: true });
      }
      const created = await svc.store.create<ServerTemplate>(t);
      audit.metadata.warnings = warnings.length;
      return ok(c, { template: toCatalystTemplate(created, { revealSecrets: true }), warnings }, 201);
    },
  }),
];
