// Drives a whole herald with the official DirectLineJS client, as a
// person's Web Chat would: connect with a token herald minted for the
// person, talk to herald's assistant (which stores the conversation), then
// have an event ingested for the person: the proactive message arrives.
// Disconnect, have another event ingested, reconnect from the watermark: the
// missed notification arrives. Run by internal/app's directlinejs test with:
//   DL_DOMAIN   http://127.0.0.1:PORT/v3/directline
//   DL_TOKEN    a token from POST /v1/users/ada/directline/token
//   DL_CONTROL  a URL that ingests an event for ada with {message} and
//               answers once herald has delivered it
// Exits 0 and prints "directlinejs: ok" on success.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { DOMAIN, TOKEN, CONTROL } = { DOMAIN: process.env.DL_DOMAIN, TOKEN: process.env.DL_TOKEN, CONTROL: process.env.DL_CONTROL };
if (!DOMAIN || !TOKEN || !CONTROL) {
  console.error('set DL_DOMAIN, DL_TOKEN and DL_CONTROL');
  process.exit(2);
}
globalThis.WebSocket = require('ws');
globalThis.XMLHttpRequest = require('xhr2');
const { DirectLine, ConnectionStatus } = require('botframework-directlinejs');

const log = (...a) => console.log('directlinejs:', ...a);
const fail = (msg) => { console.error('directlinejs: FAIL:', msg); process.exit(1); };
setTimeout(() => fail('the scenario did not finish within 60 s'), 60_000);

function watch(dl) {
  const seen = [];
  const waiters = [];
  const sub = dl.activity$.subscribe(
    (a) => {
      seen.push(a);
      for (const w of [...waiters]) if (w.pred(a)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(a); }
    },
    (err) => fail('activity$ failed: ' + (err && (err.message || err.type || err))),
  );
  const waitFor = (what, pred, ms = 15_000) => {
    const found = seen.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`no ${what} within ${ms} ms; seen: ${JSON.stringify(seen)}`), ms);
      waiters.push({ pred, resolve: (a) => { clearTimeout(timer); resolve(a); } });
    });
  };
  return { seen, sub, waitFor };
}
const fromHerald = (a) => a.from && a.from.role === 'bot';
const ingest = async (message) => {
  const res = await fetch(CONTROL, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message }) });
  if (!res.ok) fail(`ingesting "${message}": ${res.status} ${await res.text()}`);
};

// 1. Talk to the assistant: it answers, and remembers the conversation.
const dl1 = new DirectLine({ domain: DOMAIN, token: TOKEN, webSocket: true });
const status1 = dl1.connectionStatus$.subscribe((s) => { if (s === ConnectionStatus.FailedToConnect || s === ConnectionStatus.ExpiredToken) fail('connection status ' + ConnectionStatus[s]); });
const w1 = watch(dl1);
await new Promise((resolve) => dl1.postActivity({ type: 'message', text: 'hello', from: { id: 'ada' } })
  .subscribe((id) => (id === 'retry' ? fail('post answered retry') : resolve(id)), (err) => fail('post failed: ' + (err && err.status))));
await w1.waitFor("the assistant's answer", (a) => fromHerald(a) && /notification assistant/.test(a.text || ''));
log('the assistant answered in', dl1.conversationId);

// 2. An event for ada: the proactive notification arrives live.
await ingest('Your laptop is ready at desk 4');
const card = await w1.waitFor('the proactive notification', (a) => fromHerald(a) && /laptop is ready/.test(a.text || ''));
if (!card.attachments || card.attachments[0].contentType !== 'application/vnd.microsoft.card.adaptive') fail('no Adaptive Card: ' + JSON.stringify(card));
const conversationId = dl1.conversationId;
const watermark = dl1.watermark;
const token = dl1.token;
log('proactive notification', card.id, 'arrived; watermark', watermark);

// 3. Away: another event is delivered while nobody listens.
status1.unsubscribe();
w1.sub.unsubscribe();
dl1.end();
await ingest('Your badge expires on Friday');

// 4. Back from the watermark: the missed notification, and nothing before it.
const dl2 = new DirectLine({ domain: DOMAIN, token, conversationId, watermark, webSocket: true });
const w2 = watch(dl2);
const missed = await w2.waitFor('the missed notification', (a) => fromHerald(a) && /badge expires/.test(a.text || ''));
if (w2.seen.some((a) => /laptop is ready/.test(a.text || ''))) fail('the reconnected stream replayed what was before the watermark');
log('reconnected with watermark', watermark, 'and received', missed.id);
w2.sub.unsubscribe();
dl2.end();
log('ok');
process.exit(0);
