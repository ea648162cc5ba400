// The admin API as the console calls it: the same routes, mounted for sessions under /console/api.
//
// The session travels as an HttpOnly cookie (this script never sees it) or, in a cross-site
// iframe where a SameSite=Strict cookie is never sent, as a token kept in this module's memory
// only. Every call carries X-Litestore-Console: 1, which a cross-site form cannot send (CSRF).

const BASE = document.documentElement.dataset.base || "";
const SESSION_HEADER = "X-Litestore-Session";
let sessionToken = null; // header mode only; never written to storage

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 401 ? "unauthorized" : "http_" + status);
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

async function send(method, url, { body, headers = {} } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", "X-Litestore-Console": "1", ...headers },
    credentials: "same-origin",
    cache: "no-store",
  };
  if (sessionToken && !init.headers[SESSION_HEADER]) init.headers[SESSION_HEADER] = sessionToken;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    throw new ApiError(0, { error: { code: "network", message: "Cannot reach the API. Check your connection and retry." } });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (exc) {
    parsed = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("lsw:unauthorized", { detail: error }));
    throw error;
  }
  return parsed;
}

function apiUrl(path, query) {
  const url = new URL(`${BASE}/console/api${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

export const api = {
  get: (path, query) => send("GET", apiUrl(path, query)),
  post: (path, body = {}, query) => send("POST", apiUrl(path, query), { body }),
  patch: (path, body) => send("PATCH", apiUrl(path), { body }),
  del: (path, query) => send("DELETE", apiUrl(path, query)),
};

export const seg = (value) => encodeURIComponent(value);

/** Exchange a portal link's token (from the URL fragment) for a session, once. */
export async function openSession(linkToken) {
  const framed = window.top !== window.self;
  const answer = await send("POST", `${BASE}/console/session`, {
    body: { mode: framed ? "header" : "cookie" },
    headers: { [SESSION_HEADER]: linkToken },
  });
  if (answer.token) sessionToken = answer.token;
  return answer.session;
}

/** The current session (from the cookie or memory), or null when there is none. */
export async function currentSession() {
  try {
    return (await send("GET", `${BASE}/console/session`)).session;
  } catch (exc) {
    if (exc.status === 401 || exc.status === 403) return null;
    throw exc;
  }
}

export async function signOut() {
  try {
    await send("DELETE", `${BASE}/console/session`);
  } finally {
    sessionToken = null;
  }
}

/** Every page of a list route, merged (the API pages at most 100 per call). */
export async function all(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api.get(path, { ...query, limit: 100, cursor });
    items.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}
