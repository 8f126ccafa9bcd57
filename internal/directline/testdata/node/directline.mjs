// What herald.mjs and test.mjs share to drive herald with the official
// DirectLineJS client: the DL_DOMAIN, DL_TOKEN and DL_CONTROL settings, the
// browser globals DirectLineJS needs in Node, and the helpers that wait on
// a client's activities and fail the scenario.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const { DL_DOMAIN: DOMAIN, DL_TOKEN: TOKEN, DL_CONTROL: CONTROL } = process.env;
if (!DOMAIN || !TOKEN || !CONTROL) {
  console.error('set DL_DOMAIN, DL_TOKEN and DL_CONTROL');
  process.exit(2);
}

// NodeWebSocket is the ws package's WebSocket, the default of loadDirectLine.
export const NodeWebSocket = require('ws');

let ConnectionStatus;

// loadDirectLine installs what DirectLineJS needs from a browser (its
// README: "Using from within a Node environment"; Node 20 has neither
// XMLHttpRequest nor WebSocket) and returns the botframework-directlinejs
// module. WebSocket may be a subclass of NodeWebSocket that watches frames.
export function loadDirectLine(WebSocket = NodeWebSocket) {
  globalThis.WebSocket = WebSocket;
  globalThis.XMLHttpRequest = require('xhr2');
  const mod = require('botframework-directlinejs');
  ConnectionStatus = mod.ConnectionStatus;
  return mod;
}

export const log = (...a) => console.log('directlinejs:', ...a);
export const fail = (msg) => { console.error('directlinejs: FAIL:', msg); process.exit(1); };

// deadline fails the scenario unless it finishes within ms.
export const deadline = (ms) => setTimeout(() => fail(`the scenario did not finish within ${ms / 1000} s`), ms);

// failOnStatus fails the scenario when dl's connection reaches a status
// that ends it: a failed connection or an expired token, plus any extra.
export function failOnStatus(dl, what, ...extra) {
  const bad = [ConnectionStatus.FailedToConnect, ConnectionStatus.ExpiredToken, ...extra];
  return dl.connectionStatus$.subscribe((s) => { if (bad.includes(s)) fail(`${what} ${ConnectionStatus[s]}`); });
}

// watch collects a client's activities and resolves waits on them; a wait
// fails the scenario after ms (by default waitMs).
export function watch(dl, waitMs = 10_000) {
  const seen = [];
  const waiters = [];
  const sub = dl.activity$.subscribe(
    (a) => {
      seen.push(a);
      for (const w of [...waiters]) if (w.pred(a)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(a); }
    },
    (err) => fail('activity$ failed: ' + (err && (err.message || err.type || err))),
  );
  const waitFor = (what, pred, ms = waitMs) => {
    const found = seen.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`no ${what} within ${ms} ms; seen: ${JSON.stringify(seen)}`), ms);
      waiters.push({ pred, resolve: (a) => { clearTimeout(timer); resolve(a); } });
    });
  };
  return { seen, sub, waitFor };
}

// post posts activity with dl and resolves to its id.
export const post = (dl, activity) => new Promise((resolve) => {
  dl.postActivity(activity).subscribe(
    (id) => (id === 'retry' ? fail('postActivity answered "retry"') : resolve(id)),
    (err) => fail('postActivity failed: ' + (err && (err.status || err.message))),
  );
});
