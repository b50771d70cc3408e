// OpenAPI documents generated from the CRD schemas, as a Kubernetes apiserver publishes them for
// custom resources: v3 per group-version (`/openapi/v3/apis/gantry.dev/v1alpha1`) and one v2 document
// (`/openapi/v2`). kubectl reads them for `explain`, for client-side validation (1.20 validates
// against v2) and to choose a patch type: a PATCH operation that does not list
// application/strategic-merge-patch+json makes kubectl send a JSON merge patch, as it must for
// custom resources. The schemas are the CRDs' own openAPIV3Schema with metadata pointing at ObjectMeta.
import { createHash } from 'node:crypto';
import type { CrdRegistry, KindInfo } from './registry.ts';

type Json = Record<string, any>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
/** The patch types the dialect accepts (no strategic merge patch for custom resources, no server-side apply). */
export const PATCH_CONTENT_TYPES = ['application/json-patch+json', 'application/merge-patch+json'] as const;

/** `dev.gantry.v1alpha1.GameServer`: the reverse-domain name an apiserver gives a CRD's schema. */
export function definitionName(info: Pick<KindInfo, 'group' | 'version' | 'kind'>): string {
  return `${info.group.split('.').reverse().join('.')}.${info.version}.${info.kind}`;
}

const gvk = (info: KindInfo, kind = info.kind) => ({ group: info.group, kind, version: info.version });

/** Shared metav1 schemas, written with `ref` so one text serves v2 (#/definitions/) and v3 (#/components/schemas/). */
function metaSchemas(ref: (name: string) => string): Record<string, Json> {
  const time = { type: 'string', format: 'date-time' };
  return {
    [`${META}.ObjectMeta`]: {
      description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
      type: 'object',
      properties: {
        annotations: { description: 'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.', type: 'object', additionalProperties: { type: 'string' } },
        creationTimestamp: { description: 'CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.', ...time },
        deletionGracePeriodSeconds: { description: 'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.', type: 'integer', format: 'int64' },
        deletionTimestamp: { description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Set by the server when a graceful deletion is requested; the object goes once its finalizers are removed.', ...time },
        finalizers: { description: 'Must be empty before the object is deleted from the registry.', type: 'array', items: { type: 'string' } },
        generateName: { description: 'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.', type: 'string' },
        generation: { description: 'A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.', type: 'integer', format: 'int64' },
        labels: { description: 'Map of string keys and values that can be used to organize and categorize (scope and select) objects.', type: 'object', additionalProperties: { type: 'string' } },
        managedFields: { description: 'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow. Gantry does not track field managers; this is always empty.', type: 'array', items: { $ref: ref(`${META}.ManagedFieldsEntry`) } },
        name: { description: 'Name must be unique within a namespace. Cannot be updated.', type: 'string' },
        namespace: { description: 'Namespace defines the space within which each name must be unique. Cannot be updated.', type: 'string' },
        ownerReferences: { description: 'List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected.', type: 'array', items: { $ref: ref(`${META}.OwnerReference`) } },
        resourceVersion: { description: 'An opaque value that represents the internal version of this object, used for optimistic concurrency and watches. Read-only.', type: 'string' },
        selfLink: { description: 'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.', type: 'string' },
        uid: { description: 'UID is the unique in time and space value for this object. Populated by the system. Read-only.', type: 'string' },
      },
    },
    [`${META}.OwnerReference`]: {
      description: 'OwnerReference contains enough information to let you identify an owning object.',
      type: 'object',
      required: ['apiVersion', 'kind', 'name', 'uid'],
      properties: {
        apiVersion: { description: 'API version of the referent.', type: 'string' },
        blockOwnerDeletion: { description: 'If true, and if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.', type: 'boolean' },
        controller: { description: 'If true, this reference points to the managing controller.', type: 'boolean' },
        kind: { description: 'Kind of the referent.', type: 'string' },
        name: { description: 'Name of the referent.', type: 'string' },
        uid: { description: 'UID of the referent.', type: 'string' },
      },
    },
    [`${META}.ManagedFieldsEntry`]: {
      description: 'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
      type: 'object',
      properties: {
        apiVersion: { type: 'string' }, fieldsType: { type: 'string' }, manager: { type: 'string' }, operation: { type: 'string' },
        subresource: { type: 'string' }, time: time,
      },
    },
    [`${META}.ListMeta`]: {
      description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
      type: 'object',
      properties: {
        continue: { description: 'continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available.', type: 'string' },
        remainingItemCount: { type: 'integer', format: 'int64' },
        resourceVersion: { description: 'String that identifies the server\'s internal version of this object that can be used by clients to determine when objects have changed.', type: 'string' },
        selfLink: { type: 'string' },
      },
    },
    [`${META}.Status`]: {
      description: 'Status is a return value for calls that do not return other objects.',
      type: 'object',
      properties: {
        apiVersion: { type: 'string' }, code: { type: 'integer', format: 'int32' }, kind: { type: 'string' }, message: { type: 'string' },
        metadata: { $ref: ref(`${META}.ListMeta`) }, reason: { type: 'string' }, status: { type: 'string' },
        details: { type: 'object', properties: { name: { type: 'string' }, group: { type: 'string' }, kind: { type: 'string' }, uid: { type: 'string' }, causes: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' }, reason: { type: 'string' } } } } } },
      },
    },
    [`${META}.DeleteOptions`]: {
      description: 'DeleteOptions may be provided when deleting an API object.',
      type: 'object',
      properties: {
        apiVersion: { type: 'string' }, kind: { type: 'string' },
        dryRun: { type: 'array', items: { type: 'string' } },
        gracePeriodSeconds: { type: 'integer', format: 'int64' },
        orphanDependents: { type: 'boolean' },
        preconditions: { type: 'object', properties: { resourceVersion: { type: 'string' }, uid: { type: 'string' } } },
        propagationPolicy: { description: 'Whether and how garbage collection will be performed: Orphan or Background (Foreground is not supported by Gantry).', type: 'string' },
      },
    },
  };
}

/** The CRD's schema as a published definition: metadata is ObjectMeta, the kind is tagged with its GVK. */
function kindSchema(registry: CrdRegistry, info: KindInfo, ref: (name: string) => string, v2: boolean): Json {
  const schema = registry.schemaOf(info.kind) as Json;
  schema.properties = {
    ...schema.properties,
    apiVersion: { description: 'APIVersion defines the versioned schema of this representation of an object.', type: 'string' },
    kind: { description: 'Kind is a string value representing the REST resource this object represents.', type: 'string' },
    metadata: { $ref: ref(`${META}.ObjectMeta`) },
  };
  schema['x-kubernetes-group-version-kind'] = [gvk(info)];
  return v2 ? toV2(schema) : schema;
}

/** OpenAPI v2 (Swagger) has no CEL rules and no x-kubernetes-map-type; the apiserver drops them there too. */
function toV2(node: Json): Json {
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'x-kubernetes-validations' || k === 'x-kubernetes-map-type') continue;
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, toV2(pv as Json)]));
    else if (k === 'items' || k === 'additionalProperties') out[k] = toV2(v as Json);
    else out[k] = v;
  }
  return out;
}

function listSchema(info: KindInfo, ref: (name: string) => string): Json {
  return {
    description: `${info.kind}List is a list of ${info.kind}`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { type: 'string' },
      items: { description: `List of ${info.plural}.`, type: 'array', items: { $ref: ref(definitionName(info)) } },
      kind: { type: 'string' },
      metadata: { $ref: ref(`${META}.ListMeta`) },
    },
    'x-kubernetes-group-version-kind': [gvk(info, `${info.kind}List`)],
  };
}

// ---- operations --------------------------------------------------------------------------------

interface Param { name: string; in: 'query' | 'path'; description: string; type: 'string' | 'integer' | 'boolean'; required?: boolean }
interface Op {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  id: string;
  action: string;
  description: string;
  params: Param[];
  /** Request body: the kind's schema, a patch, DeleteOptions. */
  body?: 'object' | 'patch' | 'delete';
  /** Response: the object, its list, or a Status. */
  response: 'object' | 'list' | 'status';
  kind?: string;
}

const q = (name: string, description: string, type: Param['type'] = 'string'): Param => ({ name, in: 'query', description, type });
const WRITE_PARAMS = [
  q('dryRun', 'When present (All), the modification is validated but not persisted.'),
  q('fieldManager', 'A name for the actor making the change (accepted; Gantry does not track field managers).'),
  q('fieldValidation', 'How to treat unknown or duplicate fields: Strict is what Gantry does for every write (an unknown field is refused).'),
];
const LIST_PARAMS = [
  q('allowWatchBookmarks', 'Requests BOOKMARK watch events.', 'boolean'),
  q('continue', 'The continue token of the previous page.'),
  q('fieldSelector', 'Restricts the list by field: metadata.name and metadata.namespace.'),
  q('labelSelector', 'Restricts the list by label.'),
  q('limit', 'Maximum number of objects in one page.', 'integer'),
  q('resourceVersion', 'Where a watch starts.'),
  q('timeoutSeconds', 'How long a watch stays open.', 'integer'),
  q('watch', 'Streams changes instead of listing.', 'boolean'),
];

function pathsOf(info: KindInfo): Record<string, { params: Param[]; ops: Op[] }> {
  const namespaced = info.scope === 'Namespaced';
  const base = `/apis/${info.group}/${info.version}`;
  const id = (verb: string, suffix = '') => `${verb}${pascal(info.group)}${pascal(info.version)}${namespaced ? 'Namespaced' : ''}${info.kind}${suffix}`;
  const nsParam: Param[] = namespaced ? [{ name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', type: 'string', required: true }] : [];
  const nameParam: Param = { name: 'name', in: 'path', description: `name of the ${info.kind}`, type: 'string', required: true };
  const collection = `${base}${namespaced ? '/namespaces/{namespace}' : ''}/${info.plural}`;
  const out: Record<string, { params: Param[]; ops: Op[] }> = {
    [collection]: {
      params: nsParam,
      ops: [
        { method: 'get', id: id('list'), action: 'list', description: `list objects of kind ${info.kind}`, params: LIST_PARAMS, response: 'list' },
        { method: 'post', id: id('create'), action: 'post', description: `create a ${info.kind}`, params: WRITE_PARAMS, body: 'object', response: 'object' },
      ],
    },
    [`${collection}/{name}`]: {
      params: [...nsParam, nameParam],
      ops: [
        { method: 'get', id: id('read'), action: 'get', description: `read the specified ${info.kind}`, params: [q('resourceVersion', 'Ignored (reads are always current).')], response: 'object' },
        { method: 'put', id: id('replace'), action: 'put', description: `replace the specified ${info.kind}`, params: WRITE_PARAMS, body: 'object', response: 'object' },
        { method: 'patch', id: id('patch'), action: 'patch', description: `partially update the specified ${info.kind}`, params: [...WRITE_PARAMS, q('force', 'Only for server-side apply, which Gantry does not offer.', 'boolean')], body: 'patch', response: 'object' },
        { method: 'delete', id: id('delete'), action: 'delete', description: `delete a ${info.kind}`, params: [q('dryRun', 'When present (All), the deletion is validated but not persisted.'), q('gracePeriodSeconds', 'Ignored.', 'integer'), q('propagationPolicy', 'Background (default) or Orphan.')], body: 'delete', response: 'status' },
      ],
    },
  };
  if (info.hasStatusSubresource) {
    out[`${collection}/{name}/status`] = {
      params: [...nsParam, nameParam],
      ops: [
        { method: 'get', id: id('read', 'Status'), action: 'get', description: `read status of the specified ${info.kind}`, params: [], response: 'object' },
        { method: 'put', id: id('replace', 'Status'), action: 'put', description: `replace status of the specified ${info.kind}`, params: WRITE_PARAMS, body: 'object', response: 'object' },
        { method: 'patch', id: id('patch', 'Status'), action: 'patch', description: `partially update status of the specified ${info.kind}`, params: WRITE_PARAMS, body: 'patch', response: 'object' },
      ],
    };
  }
  if (namespaced) {
    out[`${base}/${info.plural}`] = {
      params: [],
      ops: [{ method: 'get', id: `list${pascal(info.group)}${pascal(info.version)}${info.kind}ForAllNamespaces`, action: 'list', description: `list objects of kind ${info.kind} in every namespace`, params: LIST_PARAMS, response: 'list' }],
    };
  }
  return out;
}

const pascal = (s: string) => s.split(/[.-]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

// ---- documents ---------------------------------------------------------------------------------

/** `/openapi/v3/apis/<group>/<version>`: the group-version document kubectl 1.24+ reads. */
export function openApiV3(registry: CrdRegistry): Json {
  const ref = (n: string) => `#/components/schemas/${n}`;
  const schemas: Record<string, Json> = metaSchemas(ref);
  const paths: Json = {};
  for (const info of registry.kinds()) {
    schemas[definitionName(info)] = kindSchema(registry, info, ref, false);
    schemas[`${definitionName(info)}List`] = listSchema(info, ref);
    for (const [path, { params, ops }] of Object.entries(pathsOf(info))) {
      const item: Json = { parameters: params.map(v3Param) };
      for (const op of ops) {
        const schemaRef = { $ref: ref(op.response === 'list' ? `${definitionName(info)}List` : op.response === 'status' ? `${META}.Status` : definitionName(info)) };
        const o: Json = {
          tags: [pascal(info.group) + '_' + info.version],
          description: op.description,
          operationId: op.id,
          parameters: op.params.map(v3Param),
          responses: { 200: { description: 'OK', content: { 'application/json': { schema: schemaRef }, 'application/yaml': { schema: schemaRef } } }, 401: { description: 'Unauthorized' } },
          'x-kubernetes-action': op.action,
          'x-kubernetes-group-version-kind': gvk(info),
        };
        if (op.body === 'object') o.requestBody = { required: true, content: { 'application/json': { schema: { $ref: ref(definitionName(info)) } } } };
        if (op.body === 'patch') o.requestBody = { required: true, content: Object.fromEntries(PATCH_CONTENT_TYPES.map((t) => [t, { schema: { type: 'object' } }])) };
        if (op.body === 'delete') o.requestBody = { content: { 'application/json': { schema: { $ref: ref(`${META}.DeleteOptions`) } } } };
        item[op.method] = o;
      }
      paths[path] = item;
    }
  }
  return { openapi: '3.0.0', info: { title: 'Gantry', version: 'v1alpha1' }, paths, components: { schemas } };
}

function v3Param(p: Param): Json {
  return { name: p.name, in: p.in, description: p.description, ...(p.required ? { required: true } : {}), schema: { type: p.type }, ...(p.in === 'query' ? { uniqueItems: true } : {}) };
}

/** `/openapi/v2`: one Swagger 2.0 document for everything served (kubectl ≤ 1.23 validates and explains with it). */
export function openApiV2(registry: CrdRegistry): Json {
  const ref = (n: string) => `#/definitions/${n}`;
  const definitions: Record<string, Json> = Object.fromEntries(Object.entries(metaSchemas(ref)).map(([k, v]) => [k, toV2(v)]));
  const paths: Json = {};
  for (const info of registry.kinds()) {
    definitions[definitionName(info)] = kindSchema(registry, info, ref, true);
    definitions[`${definitionName(info)}List`] = listSchema(info, ref);
    for (const [path, { params, ops }] of Object.entries(pathsOf(info))) {
      const item: Json = { parameters: params.map(v2Param) };
      for (const op of ops) {
        const schemaRef = { $ref: ref(op.response === 'list' ? `${definitionName(info)}List` : op.response === 'status' ? `${META}.Status` : definitionName(info)) };
        const parameters = op.params.map(v2Param);
        if (op.body === 'object') parameters.push({ name: 'body', in: 'body', required: true, schema: { $ref: ref(definitionName(info)) } });
        if (op.body === 'patch') parameters.push({ name: 'body', in: 'body', required: true, schema: { type: 'object' } });
        if (op.body === 'delete') parameters.push({ name: 'body', in: 'body', schema: { $ref: ref(`${META}.DeleteOptions`) } });
        item[op.method] = {
          tags: [pascal(info.group) + '_' + info.version],
          description: op.description,
          operationId: op.id,
          consumes: op.body === 'patch' ? [...PATCH_CONTENT_TYPES] : ['*/*'],
          produces: ['application/json', 'application/yaml'],
          schemes: ['https'],
          parameters,
          responses: { 200: { description: 'OK', schema: schemaRef }, 401: { description: 'Unauthorized' } },
          'x-kubernetes-action': op.action,
          'x-kubernetes-group-version-kind': gvk(info),
        };
      }
      paths[path] = item;
    }
  }
  return { swagger: '2.0', info: { title: 'Gantry', version: 'v1alpha1' }, paths, definitions };
}

function v2Param(p: Param): Json {
  return { name: p.name, in: p.in, description: p.description, type: p.type, ...(p.required ? { required: true } : {}), ...(p.in === 'query' ? { uniqueItems: true } : {}) };
}

/** A content hash, as the apiserver puts in serverRelativeURL so clients may cache the document forever. */
export function documentHash(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
}
