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
import { CONTROL, DOMAIN, TOKEN, deadline, fail, failOnStatus, loadDirectLine, log, post, watch } from './directline.mjs';

const { DirectLine } = loadDirectLine();
deadline(60_000);

const fromHerald = (a) => a.from && a.from.role === 'bot';
const ingest = async (message) => {
  const res = await fetch(CONTROL, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message }) });
  if (!res.ok) fail(`ingesting "${message}": ${res.status} ${await res.text()}`);
};

// 1. Talk to the assistant: it answers, and remembers the conversation.
const dl1 = new DirectLine({ domain: DOMAIN, token: TOKEN, webSocket: true });
const status1 = failOnStatus(dl1, 'connection status');
const w1 = watch(dl1, 15_000);
await post(dl1, { type: 'message', text: 'hello', from: { id: 'ada' } });
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
const w2 = watch(dl2, 15_000);
const missed = await w2.waitFor('the missed notification', (a) => fromHerald(a) && /badge expires/.test(a.text || ''));
if (w2.seen.some((a) => /laptop is ready/.test(a.text || ''))) fail('the reconnected stream replayed what was before the watermark');
log('reconnected with watermark', watermark, 'and received', missed.id);
w2.sub.unsubscribe();
dl2.end();
log('ok');
process.exit(0);
