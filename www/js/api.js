// The API on the same origin. The bearer token lives in sessionStorage: it is gone when the tab closes.

const TOKEN_KEY = "tally.token";

/**
 * An error the API answered ({"error": {code, message, field?, index?}}), or one of the network. `index` is the
 * refused item of a batch (POST /api/batches), null elsewhere.
 */
export class ApiError extends Error {
  constructor(status, code, message, field, index) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    this.index = Number.isInteger(index) ? index : null;
  }
}

/** A request body already written as JSON text. */
export class JSONText {
  constructor(text) { this.text = text; }
}

/**
 * The JSON text of `body` with the fields in `integers` (digit strings) written as exact JSON integers: an id
 * typed by a person may be beyond what a JavaScript number holds exactly (2^53).
 */
export function withExactIntegers(body, integers) {
  const marked = { ...body };
  for (const name of Object.keys(integers)) marked[name] = `\u0000${name}`;
  let text = JSON.stringify(marked);
  for (const [name, digits] of Object.entries(integers)) {
    if (!/^\d+$/.test(digits)) throw new TypeError(`${name} is not a whole number`);
    text = text.replace(JSON.stringify(`\u0000${name}`), digits);
  }
  return new JSONText(text);
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

let onUnauthorized = () => {};
/** What to do when the API says the token is no good any more (expired, revoked). */
export function whenUnauthorized(handler) { onUnauthorized = handler; }

/** A fresh Idempotency-Key (crypto.randomUUID where the page is a secure context, else random bytes). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Calls the API; resolves with the JSON body, rejects with an ApiError. */
export async function request(method, path, { body, query, idempotencyKey, token = session.token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let url = `/api${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== null && value !== undefined && value !== "") params.set(name, value);
    }
    if (params.size) url += `?${params}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method, headers, cache: "no-store",
      body: body === undefined ? undefined : body instanceof JSONText ? body.text : JSON.stringify(body),
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiError(0, "network", "The service could not be reached. Check the connection and try again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (response.ok) return data;
  const problem = data && data.error ? data.error : {};
  const error = new ApiError(
    response.status, problem.code || "http_" + response.status,
    problem.message || `The service answered ${response.status}.`, problem.field, problem.index);
  // Only the session's own token ending is a session that ended (not a pasted token being tried out).
  if (response.status === 401 && token && token === session.token) onUnauthorized(error);
  throw error;
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const patch = (path, body) => request("PATCH", path, { body });
