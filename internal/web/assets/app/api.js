// The app's only way to herald: /v1 over fetch with the signed-in
// credential as a Bearer token. The credential lives in sessionStorage (this
// tab only, gone when it closes).

const STORE = 'herald.credential';

// credential: {token, role, userId?, expiresAt?} or null.
export const credential = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(STORE)); } catch { return null; }
  },
  set(c) { sessionStorage.setItem(STORE, JSON.stringify(c)); },
  clear() { sessionStorage.removeItem(STORE); },
};

// ApiError carries the problem document's status, code and detail.
export class ApiError extends Error {
  constructor(status, doc) {
    const msg = doc?.detail || doc?.title || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.code = doc?.code;
    this.fields = doc?.errors || [];
  }
}

// signIn checks a token with GET /v1/whoami and keeps it.
export async function signIn(token) {
  const res = await fetch('/v1/whoami', { headers: { Authorization: `Bearer ${token}` } });
  const doc = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, doc);
  const c = { token, role: doc.role, userId: doc.userId, expiresAt: doc.expiresAt };
  credential.set(c);
  return c;
}

// api calls a /v1 route and returns its JSON (null for 204).
export async function api(method, path, body, opts = {}) {
  const c = credential.get();
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  if (c) headers.Authorization = `Bearer ${c.token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    if (!headers['Content-Type']) headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers, body: payload, signal: opts.signal });
  if (res.status === 204) return null;
  const doc = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent('herald:unauthenticated', { detail: doc }));
    throw new ApiError(res.status, doc);
  }
  return doc;
}

export const userPath = (id, rest = '') => `/v1/users/${encodeURIComponent(id)}${rest}`;

// stream reads Server-Sent Events from path over fetch, so that the
// credential travels in the Authorization header (EventSource cannot send
// one) rather than in the URL. It reconnects with Last-Event-ID after the
// server's retry delay until signal aborts; onEvent(type, data, id).
export async function stream(path, { onEvent, onState, signal }) {
  let lastId = '';
  let retry = 2000;
  while (!signal.aborted) {
    try {
      const c = credential.get();
      const headers = { Accept: 'text/event-stream', Authorization: `Bearer ${c?.token}` };
      if (lastId) headers['Last-Event-ID'] = lastId;
      const res = await fetch(path, { headers, signal, cache: 'no-store' });
      if (!res.ok) {
        const doc = await res.json().catch(() => null);
        onState?.('error', new ApiError(res.status, doc));
        if (res.status === 401 || res.status === 403) return;
      } else {
        onState?.('open');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        let ev = { type: 'message', data: [], id: '' };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.search(/\r?\n/)) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + (buf[nl] === '\r' ? 2 : 1));
            if (line === '') {
              if (ev.data.length) {
                if (ev.id) lastId = ev.id;
                onEvent(ev.type, ev.data.join('\n'), ev.id);
              }
              ev = { type: 'message', data: [], id: '' };
              continue;
            }
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const name = i < 0 ? line : line.slice(0, i);
            const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (name === 'data') ev.data.push(val);
            else if (name === 'event') ev.type = val;
            else if (name === 'id') ev.id = val;
            else if (name === 'retry' && /^\d+$/.test(val)) retry = Number(val);
          }
        }
        onState?.('closed');
      }
    } catch (err) {
      if (signal.aborted) return;
      onState?.('closed', err);
    }
    await new Promise((resolve) => {
      const t = setTimeout(resolve, retry);
      signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}
