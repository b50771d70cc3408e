// ObjectMeta rules the CRD schemas do not cover (an apiserver checks these for every kind).
import { randomBytes } from 'node:crypto';
import type { FieldError, ObjectMeta } from '../../crds/resource.ts';
import { labelKeyProblem, labelValueProblem } from './label-selector.ts';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_ANNOTATION_BYTES = 256 * 1024;

/** The finalizer through which a pending Orphan deletion is remembered (Kubernetes uses the same name). */
export const ORPHAN_FINALIZER = 'orphan';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'is required';
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return `"${name}" must be a lowercase DNS subdomain: [a-z0-9] with "-" or "." inside, at most 253 characters`;
  }
  return undefined;
}

export function namespaceProblem(ns: unknown): string | undefined {
  if (typeof ns !== 'string' || ns === '') return 'is required';
  if (ns.length > 63 || !DNS_LABEL.test(ns)) return `"${ns}" must be a lowercase DNS label: [a-z0-9] with "-" inside, at most 63 characters`;
  return undefined;
}

/** Kubernetes' generateName suffix: five characters without vowels or look-alikes. */
export function generateNameSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

function stringMap(path: string, v: unknown, errs: FieldError[], checkValue?: (s: string) => string | undefined): void {
  if (v === undefined) return;
  if (!isPlainObject(v)) {
    errs.push({ field: path, message: 'must be an object of string values' });
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    const kp = labelKeyProblem(k);
    if (kp) errs.push({ field: `${path}[${k}]`, message: `invalid key: ${kp}` });
    if (typeof val !== 'string') errs.push({ field: `${path}[${k}]`, message: 'must be a string' });
    else {
      const vp = checkValue?.(val);
      if (vp) errs.push({ field: `${path}[${k}]`, message: `invalid ${vp}` });
    }
  }
}

/** Problems with the client-settable parts of metadata; [] when fine. */
export function validateMetadata(meta: ObjectMeta, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const np = nameProblem(meta.name);
  if (np) errs.push({ field: 'metadata.name', message: np });
  if (namespaced) {
    const nsp = namespaceProblem(meta.namespace);
    if (nsp) errs.push({ field: 'metadata.namespace', message: nsp });
  }
  stringMap('metadata.labels', meta.labels, errs, labelValueProblem);
  stringMap('metadata.annotations', meta.annotations, errs);
  if (meta.annotations && Buffer.byteLength(JSON.stringify(meta.annotations)) > MAX_ANNOTATION_BYTES) {
    errs.push({ field: 'metadata.annotations', message: `may not exceed ${MAX_ANNOTATION_BYTES} bytes in total` });
  }
  if (meta.finalizers !== undefined) {
    if (!Array.isArray(meta.finalizers)) errs.push({ field: 'metadata.finalizers', message: 'must be a list of strings' });
    else
      meta.finalizers.forEach((f, i) => {
        const p = typeof f === 'string' ? labelKeyProblem(f) : 'must be a string';
        if (p) errs.push({ field: `metadata.finalizers[${i}]`, message: p });
      });
  }
  if (meta.ownerReferences !== undefined) {
    if (!Array.isArray(meta.ownerReferences)) errs.push({ field: 'metadata.ownerReferences', message: 'must be a list' });
    else {
      let controllers = 0;
      const uids = new Set<string>();
      meta.ownerReferences.forEach((ref, i) => {
        const at = `metadata.ownerReferences[${i}]`;
        if (!isPlainObject(ref)) return errs.push({ field: at, message: 'must be an object' });
        for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
          if (typeof ref[f] !== 'string' || ref[f] === '') errs.push({ field: `${at}.${f}`, message: 'is required' });
        }
        for (const f of ['controller', 'blockOwnerDeletion'] as const) {
          if (ref[f] !== undefined && typeof ref[f] !== 'boolean') errs.push({ field: `${at}.${f}`, message: 'must be a boolean' });
        }
        if (ref.controller === true) controllers++;
        if (typeof ref.uid === 'string') {
          if (uids.has(ref.uid)) errs.push({ field: `${at}.uid`, message: `duplicate owner uid ${ref.uid}` });
          uids.add(ref.uid);
        }
      });
      if (controllers > 1) errs.push({ field: 'metadata.ownerReferences', message: 'only one reference can have controller set to true' });
    }
  }
  return errs;
}

/**
 * Metadata with a fixed key order and nothing the store does not know (a client's managedFields or
 * selfLink would otherwise be stored and echoed forever). Empty collections are dropped, so "no
 * labels" has one representation and cannot make a no-op write look like a change.
 */
export function canonicalMeta(m: ObjectMeta & { generateName?: string }): ObjectMeta {
  const out: ObjectMeta & { generateName?: string } = { name: m.name };
  if (m.generateName !== undefined) out.generateName = m.generateName;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  if (m.labels !== undefined && Object.keys(m.labels).length) out.labels = m.labels;
  if (m.annotations !== undefined && Object.keys(m.annotations).length) out.annotations = m.annotations;
  if (m.finalizers !== undefined && m.finalizers.length) out.finalizers = m.finalizers;
  if (m.ownerReferences !== undefined && m.ownerReferences.length) out.ownerReferences = m.ownerReferences;
  return out;
}
