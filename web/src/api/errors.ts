// What every failed call becomes: the API's own message (Catalyst `{message}`, Kubernetes Status
// `{message}`), or a sentence saying what went wrong on the way (network, a proxy's HTML page).
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The API's machine-readable cause (token_expired, server_suspended, …) when it gave one. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The error a non-2xx answer stands for: its JSON message when there is one, else the status line. */
export async function errorFromResponse(res: { status: number; statusText: string; headers: { get(name: string): string | null }; text(): Promise<string> }): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json') || /^\s*\{/.test(text)) {
    try {
      const body = JSON.parse(text) as { message?: unknown; reason?: unknown; error?: unknown };
      const message = typeof body.message === 'string' && body.message ? body.message : typeof body.error === 'string' ? body.error : undefined;
      if (message) return new ApiError(res.status, message, typeof body.reason === 'string' ? body.reason : undefined);
    } catch {
      // not JSON after all: fall through to the text
    }
  }
  const plain = type.startsWith('text/plain') ? text.trim().slice(0, 300) : '';
  return new ApiError(res.status, plain || `HTTP ${res.status} ${res.statusText || ''}`.trim());
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
