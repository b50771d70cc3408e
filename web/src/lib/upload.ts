// Uploads with progress. fetch() cannot report upload progress, so this uses XMLHttpRequest; the
// access token is taken fresh and a 401 refreshes it once, as every other call does.
import { ApiError } from '../api/errors.ts';
import type { Session } from '../api/session.ts';

export interface UploadProgress {
  loaded: number;
  total: number;
}

function once(url: string, form: FormData, token: string | undefined, onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.total });
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new ApiError(0, 'Upload failed: the connection was lost', 'network'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}

function errorOf(status: number, text: string): ApiError {
  try {
    const b = JSON.parse(text) as { message?: string; reason?: string };
    if (b.message) return new ApiError(status, b.message, b.reason);
  } catch {
    // not JSON
  }
  return new ApiError(status, `Upload failed: HTTP ${status}`);
}

export async function uploadFiles(session: Session, serverId: string, dir: string, files: File[], onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<void> {
  const url = `/api/servers/${encodeURIComponent(serverId)}/files/upload`;
  const form = () => {
    const f = new FormData();
    // The API reads the target directory before the files (it streams them).
    f.append('path', dir);
    for (const file of files) f.append('file', file, file.name);
    return f;
  };
  const token = await session.accessToken();
  let r = await once(url, form(), token, onProgress, signal);
  if (r.status === 401 && token) {
    const err = errorOf(r.status, r.text);
    if (err.reason !== 'token_expired' && err.reason !== 'token_invalid') throw err;
    await session.refresh(token);
    r = await once(url, form(), session.current?.token, onProgress, signal);
  }
  if (r.status < 200 || r.status >= 300) throw errorOf(r.status, r.text);
}
