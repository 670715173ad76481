// The API, as the pages call it: /v1 with the signed-in key as a bearer token. Errors arrive as
// problem+json (RFC 9457) and become ApiError, whose message names the status, the problem and where it is.

const KEY = 'entitle.key';

/** The key lives in sessionStorage: this tab only, gone when the tab closes, never in a cookie. */
export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (k) => sessionStorage.setItem(KEY, k),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem && typeof problem === 'object' ? problem : { detail: String(problem || '') };
    const where = p.pointer ? ` (at ${p.pointer})` : '';
    super(`${p.title || 'Error'} (${status}): ${p.detail || ''}${where}`);
    this.status = status;
    this.problem = p;
  }
}

/** A path segment: ids are the tenant's own strings. */
export const seg = encodeURIComponent;

/**
 * Calls the API. `body` is sent as JSON unless it is a string (then `type` names its Content-Type) or a FormData
 * (sent as multipart/form-data);
 * `query` entries with an empty value are left out. Answers {data, etag, status}; throws ApiError.
 */
export async function api(method, path, { body, query, type, key = session.key(), headers = {} } = {}) {
  const url = new URL(`/v1${path}`, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body instanceof FormData) {
    // multipart/form-data: the browser writes the Content-Type with its boundary.
    init.body = body;
  } else if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = typeof body === 'string' ? (type || 'text/plain') : 'application/json';
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, { title: 'Unreachable', detail: `the server did not answer: ${e.message}` });
  }
  const contentType = res.headers.get('content-type') || '';
  const data = contentType.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, etag: res.headers.get('etag'), status: res.status, headers: res.headers };
}
