// A small HTTP client for the resource API, shared by the CLI commands.
import type { KindInfo } from '../crds/registry.ts';
import { GROUP, VERSION, type Resource } from '../crds/resource.ts';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
  ) {
    super(message);
  }
}

export class GantryClient {
  constructor(readonly server: string) {}

  path(info: KindInfo, namespace: string | undefined, name?: string): string {
    const base = `/apis/${GROUP}/${VERSION}`;
    const ns = info.scope === 'Namespaced' && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${base}${ns}/${info.plural}${name ? '/' + encodeURIComponent(name) : ''}`;
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), {
        method,
        headers: body !== undefined ? { 'content-type': contentType } : {},
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new ApiError(`cannot reach Gantry at ${this.server}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message} (is \`gantry up\` running? use --server URL)`, 0);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const status = json as { message?: string; reason?: string } | undefined;
      throw new ApiError(status?.message ?? `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status, status?.reason);
    }
    return json as T;
  }

  get<T extends Resource>(info: KindInfo, namespace: string | undefined, name: string): Promise<T> {
    return this.request('GET', this.path(info, namespace, name));
  }

  list<T extends Resource>(info: KindInfo, namespace: string | undefined): Promise<{ items: T[] }> {
    return this.request('GET', this.path(info, namespace));
  }
}
