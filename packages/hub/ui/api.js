// The dashboard's only way to the hub: the public admin API, authenticated by the session
// cookie (the browser sends it; scripts never see it). Writes carry the session's CSRF
// token, which the hub checks against the cookie.

let session;
let onLoggedOut = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'HTTP_ERROR';
  }
}

export const currentSession = () => session;
export const isAdmin = () => session?.scope === 'admin';
export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

async function answer(res) {
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-outpost-csrf'] = session?.csrfToken ?? '';
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (res.status === 401) {
    session = undefined;
    onLoggedOut();
  }
  return answer(res);
}

export const get = (path) => call('GET', path);

/** Exchanges an API token for the session cookie; the token is not kept. */
export async function login(token) {
  const res = await fetch('/api/v1/sessions', {
    method: 'POST',
    headers: { accept: 'application/json', authorization: `Bearer ${token.trim()}` },
    credentials: 'same-origin',
  });
  session = await answer(res);
  return session;
}

/** The session of the cookie, if there is a live one. */
export async function resume() {
  const res = await fetch('/api/v1/sessions/current', { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (res.status === 401 || res.status === 400) return undefined;
  session = await answer(res);
  return session;
}

export async function logout() {
  try {
    await call('DELETE', '/api/v1/sessions/current');
  } finally {
    session = undefined;
  }
}
