// The generic shape every Gantry resource shares (Kubernetes object conventions).
// Kind-specific spec/status types live in crds/types.ts and follow the CRD YAML files.

export const GROUP = 'gantry.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface Resource<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Status;
}

/** One failing field of a validation, Kubernetes StatusCause style: field is `spec.ports[0].hostPort`. */
export interface FieldError {
  field: string;
  message: string;
}

/** Any resource, including kind-specific ones whose spec/status interfaces have no index signature. */
export type AnyResource = Resource<object, object>;
