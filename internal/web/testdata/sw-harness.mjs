// Runs herald's service worker (the file named by the first argument) in a
// Node vm context with the parts of ServiceWorkerGlobalScope it uses, and
// delivers each Web Push payload read from stdin (a JSON array of strings,
// the decrypted plaintexts) as a push event, one after the other. The
// registration keeps the list of notifications shown as the Notifications
// API does: showNotification with the tag of a notification shown replaces
// it, otherwise it adds one. Prints {"shown": [{title, body, tag, renotify}]}.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const [swPath] = process.argv.slice(2);
const payloads = JSON.parse(readFileSync(0, 'utf8'));
const listeners = {};
const shown = [];
const registration = {
  showNotification(title, options = {}) {
    const n = { title, body: options.body, tag: options.tag || '', renotify: !!options.renotify };
    const i = n.tag ? shown.findIndex((s) => s.tag === n.tag) : -1;
    if (i >= 0) shown[i] = n; else shown.push(n);
    return Promise.resolve();
  },
};
const self = {
  addEventListener: (type, fn) => { listeners[type] = fn; },
  registration,
  location: { origin: 'https://herald.example' },
  clients: { matchAll: async () => [], openWindow: async () => null },
};
vm.runInNewContext(readFileSync(swPath, 'utf8'), { self, URL, console });
if (!listeners.push) throw new Error('the service worker does not listen for push events');
for (const p of payloads) {
  const waits = [];
  listeners.push({ data: { json: () => JSON.parse(p), text: () => p }, waitUntil: (pr) => waits.push(pr) });
  await Promise.all(waits);
}
console.log(JSON.stringify({ shown }));
