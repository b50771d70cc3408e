// The OpenAPI v2 document in the protobuf form kubectl asks for (`Accept:
// application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): client-go decodes /openapi/v2 only as
// gnostic's openapi_v2.Document, so kubectl 1.20 cannot validate or explain without it. Only the
// messages and fields our documents use are encoded; field numbers are gnostic's OpenAPIv2.proto.
// Values that gnostic keeps as `Any` (defaults, enums, vendor extensions) carry their YAML text, and
// JSON is YAML.
import protobuf from 'protobufjs/minimal.js';

type Json = Record<string, any>;
type Writer = protobuf.Writer;

const LEN = 2;
const VARINT = 0;
const FIXED64 = 1;

const str = (w: Writer, field: number, v: unknown) => {
  if (typeof v === 'string') w.uint32((field << 3) | LEN).string(v);
};
const strs = (w: Writer, field: number, v: unknown) => {
  if (Array.isArray(v)) for (const s of v) str(w, field, String(s));
};
const msg = (w: Writer, field: number, body: (w: Writer) => void) => {
  w.uint32((field << 3) | LEN).fork();
  body(w);
  w.ldelim();
};
const any = (w: Writer, field: number, value: unknown) => msg(w, field, (a) => str(a, 2, JSON.stringify(value) + '\n'));

function extensions(w: Writer, field: number, node: Json): void {
  for (const [k, v] of Object.entries(node)) {
    if (!k.startsWith('x-')) continue;
    msg(w, field, (n) => {
      str(n, 1, k);
      any(n, 2, v);
    });
  }
}

function schema(w: Writer, s: Json): void {
  str(w, 1, s.$ref);
  str(w, 2, s.format);
  str(w, 3, s.title);
  str(w, 4, s.description);
  if (s.default !== undefined) any(w, 5, s.default);
  if (typeof s.multipleOf === 'number') w.uint32((6 << 3) | FIXED64).double(s.multipleOf);
  if (typeof s.maximum === 'number') w.uint32((7 << 3) | FIXED64).double(s.maximum);
  if (typeof s.minimum === 'number') w.uint32((9 << 3) | FIXED64).double(s.minimum);
  const ints: [string, number][] = [['maxLength', 11], ['minLength', 12], ['maxItems', 14], ['minItems', 15], ['maxProperties', 17], ['minProperties', 18]];
  for (const [k, f] of ints) if (typeof s[k] === 'number') w.uint32((f << 3) | VARINT).int64(s[k]);
  str(w, 13, s.pattern);
  strs(w, 19, s.required);
  if (Array.isArray(s.enum)) for (const v of s.enum) any(w, 20, v);
  if (s.additionalProperties !== undefined) {
    msg(w, 21, (a) => {
      if (typeof s.additionalProperties === 'boolean') a.uint32((2 << 3) | VARINT).bool(s.additionalProperties);
      else msg(a, 1, (x) => schema(x, s.additionalProperties));
    });
  }
  if (s.type !== undefined) msg(w, 22, (t) => strs(t, 1, Array.isArray(s.type) ? s.type : [s.type]));
  if (s.items) msg(w, 23, (i) => msg(i, 1, (x) => schema(x, s.items)));
  if (s.properties) msg(w, 25, (p) => namedSchemas(p, s.properties));
  extensions(w, 31, s);
}

function namedSchemas(w: Writer, map: Record<string, Json>): void {
  for (const [name, value] of Object.entries(map)) {
    msg(w, 1, (n) => {
      str(n, 1, name);
      msg(n, 2, (x) => schema(x, value));
    });
  }
}

const OPERATION_FIELDS: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

/** ParametersItem → Parameter → body, or non-body → query/path sub-schema (kubectl 1.20 checks that
 *  PATCH takes `dryRun` before `kubectl diff`, and `fieldValidation` before leaving validation to us). */
function parameter(w: Writer, p: Json): void {
  msg(w, 1, (param) => {
    if (p.in === 'body') {
      msg(param, 1, (b) => {
        str(b, 1, p.description);
        str(b, 2, p.name);
        str(b, 3, p.in);
        if (p.required) b.uint32((4 << 3) | VARINT).bool(true);
        if (p.schema) msg(b, 5, (x) => schema(x, p.schema));
      });
      return;
    }
    const sub = p.in === 'path' ? 4 : p.in === 'query' ? 3 : undefined;
    if (sub === undefined) return;
    msg(param, 2, (nb) => msg(nb, sub, (q) => {
      if (p.required) q.uint32((1 << 3) | VARINT).bool(true);
      str(q, 2, p.in);
      str(q, 3, p.description);
      str(q, 4, p.name);
      str(q, p.in === 'path' ? 5 : 6, p.type);
      if (p.in === 'query' && p.uniqueItems) q.uint32((20 << 3) | VARINT).bool(true);
    }));
  });
}

function operation(w: Writer, op: Json): void {
  strs(w, 1, op.tags);
  str(w, 2, op.summary);
  str(w, 3, op.description);
  str(w, 5, op.operationId);
  strs(w, 6, op.produces);
  strs(w, 7, op.consumes);
  for (const p of op.parameters ?? []) msg(w, 8, (pi) => parameter(pi, p));
  strs(w, 10, op.schemes);
  extensions(w, 13, op);
}

/** Encodes an OpenAPI v2 document (swagger, info, paths' operations, definitions) as gnostic's protobuf. */
export function encodeOpenApiV2(doc: Json): Uint8Array {
  const w = protobuf.Writer.create();
  str(w, 1, doc.swagger);
  if (doc.info) msg(w, 2, (i) => {
    str(i, 1, doc.info.title);
    str(i, 2, doc.info.version);
    str(i, 3, doc.info.description);
  });
  if (doc.paths) msg(w, 8, (p) => {
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      msg(p, 2, (n) => {
        str(n, 1, path);
        msg(n, 2, (pi) => {
          for (const [method, field] of Object.entries(OPERATION_FIELDS)) if (item[method]) msg(pi, field, (o) => operation(o, item[method]));
          for (const p of item.parameters ?? []) msg(pi, 9, (x) => parameter(x, p));
        });
      });
    }
  });
  if (doc.definitions) msg(w, 9, (d) => namedSchemas(d, doc.definitions));
  return w.finish();
}
