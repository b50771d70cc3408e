// A tiny client of Gantry's Kubernetes-shaped resource API, for the YAML of every resource. The base
// path is the one line to change when the dialect moves (Gantry serves it under kubectl's base path /k8s, api/kube/app.ts).
// Kinds are resolved through the API's discovery document, not a table kept here.
import type { ApiClient } from './http.ts';

export const KUBE_BASE = '/k8s/apis/gantry.dev/v1alpha1';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

export class KubeClient {
  private resources: Promise<ApiResource[]> | undefined;

  constructor(
    private readonly api: ApiClient,
    readonly base = KUBE_BASE,
  ) {}

  private async resource(kind: string): Promise<ApiResource> {
    this.resources ??= this.api.call<{ resources: ApiResource[] }>('GET', this.base).then((d) => d.resources.filter((r) => !r.name.includes('/')));
    let list: ApiResource[];
    try {
      list = await this.resources;
    } catch (err) {
      this.resources = undefined;
      throw err;
    }
    const r = list.find((x) => x.kind === kind);
    if (!r) throw new Error(`the resource API does not serve kind ${kind}`);
    return r;
  }

  async path(kind: string, name: string, namespace = 'default'): Promise<string> {
    const r = await this.resource(kind);
    return `${this.base}${r.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${r.name}/${encodeURIComponent(name)}`;
  }

  async get(kind: string, name: string, namespace?: string): Promise<KubeObject> {
    return this.api.call<KubeObject>('GET', await this.path(kind, name, namespace));
  }

  /** Replaces the object (PUT); its metadata.resourceVersion makes a stale edit a Conflict. */
  async replace(obj: KubeObject): Promise<KubeObject> {
    if (!obj || typeof obj !== 'object' || typeof obj.kind !== 'string' || typeof obj.metadata?.name !== 'string') throw new Error('the document needs kind and metadata.name');
    return this.api.call<KubeObject>('PUT', await this.path(obj.kind, obj.metadata.name, obj.metadata.namespace), { body: obj });
  }
}

/** What a GitOps user commits: no server-managed metadata, no status. */
export function forCommit(obj: KubeObject): KubeObject {
  const { status: _status, ...rest } = obj;
  const { uid: _u, resourceVersion: _r, generation: _g, creationTimestamp: _c, managedFields: _m, ...metadata } = obj.metadata as Record<string, unknown>;
  return { ...rest, metadata: metadata as KubeObject['metadata'] };
}
