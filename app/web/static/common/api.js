// The JSON API client shared by the pages: bearer token, problem+json errors,
// Idempotency-Key on value-moving POSTs, and network failures told apart (status 0).
export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = problem?.code || (status === 0 ? 'network' : `http_${status}`);
  }
  get network() { return this.status === 0; }
}

export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function createApi(ns, { onUnauthorized } = {}) {
  const storageKey = `o2o.${ns}.token`;
  let token = localStorage.getItem(storageKey) || '';

  async function request(method, path, { query, body, idempotencyKey, raw } = {}) {
    const url = new URL(API_BASE + path, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, value);
    }
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let response;
    try {
      response = await fetch(url, {
        method, headers, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, { code: 'network', detail: String(err) });
    }
    if (!response.ok) {
      let problem = null;
      try { problem = await response.json(); } catch { /* not JSON */ }
      const error = new ApiError(response.status, problem);
      if (response.status === 401 && token && onUnauthorized) onUnauthorized(error);
      throw error;
    }
    if (raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }

  return {
    get token() { return token; },
    setToken(value) {
      token = value || '';
      if (token) localStorage.setItem(storageKey, token);
      else localStorage.removeItem(storageKey);
    },
    get: (path, query) => request('GET', path, { query }),
    post: (path, body = {}, opts = {}) => request('POST', path, { body, ...opts }),
    put: (path, body) => request('PUT', path, { body }),
    patch: (path, body) => request('PATCH', path, { body }),
    raw: (path, query) => request('GET', path, { query, raw: true }),
  };
}

// Lists may come bare or wrapped ({"items": [...]}, {"notifications": [...]}, ...).
export function listOf(value, ...keys) {
  if (Array.isArray(value)) return value;
  for (const key of [...keys, 'items', 'results', 'data']) {
    if (value && Array.isArray(value[key])) return value[key];
  }
  return [];
}
