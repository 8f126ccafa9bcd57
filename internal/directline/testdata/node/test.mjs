// Drives herald's Direct Line server with the official DirectLineJS client,
// as a browser's Web Chat would: connect over the WebSocket, post a message,
// receive its echo and the bot's reply; disconnect, let the bot write while
// nobody listens, reconnect from the watermark and receive only what was
// missed. Run by node_test.go with:
//   DL_DOMAIN   http://127.0.0.1:PORT/v3/directline
//   DL_TOKEN    a token from POST /tokens/generate for user "alice"
//   DL_CONTROL  a URL that makes the test's bot Send {conversationId, text}
// Then a polling client (webSocket: false) posts and gets the same by GET.
// Exits 0 and prints "directlinejs: ok" on success.
import { CONTROL, DOMAIN, NodeWebSocket, TOKEN, deadline, fail, failOnStatus, loadDirectLine, log, post, watch } from './directline.mjs';

// The WebSocket counts the activity frames it receives, to prove the
// stream (not polling) carried them.
const stats = { opened: 0, frames: 0 };
class CountingWebSocket extends NodeWebSocket {
  constructor(url, ...rest) {
    super(url, ...rest);
    stats.opened++;
    this.addEventListener('message', (m) => { if (m.data && String(m.data).length > 0) stats.frames++; });
  }
}
const { DirectLine, ConnectionStatus } = loadDirectLine(CountingWebSocket);
deadline(45_000);

// 1. Connect, post, receive the echo and the reply over the WebSocket.
const dl1 = new DirectLine({ domain: DOMAIN, token: TOKEN, webSocket: true });
const status1 = failOnStatus(dl1, 'connection status');
const w1 = watch(dl1);
const id = await post(dl1, {
  type: 'message', text: 'hello', from: { id: 'alice', name: 'Alice' },
  channelData: { clientActivityID: 'node-client-1' },
});
const echo = await w1.waitFor('echo of the posted message', (a) => a.id === id);
if (!echo.channelData || echo.channelData.clientActivityID !== 'node-client-1') fail('the echo lost channelData.clientActivityID: ' + JSON.stringify(echo));
const reply = await w1.waitFor('bot reply', (a) => a.text === 'echo: hello');
if (reply.replyToId !== id || reply.from.role !== 'bot') fail('unexpected reply ' + JSON.stringify(reply));
if (stats.opened < 1 || stats.frames < 1) fail(`activities did not come over the WebSocket (sockets ${stats.opened}, frames ${stats.frames})`);
const conversationId = dl1.conversationId;
const watermark = dl1.watermark;
const token = dl1.token;
log(`connected to ${conversationId}, posted ${id}, got the echo and the reply over the socket; watermark ${watermark}`);

// 2. Disconnect; the bot writes while nobody listens.
status1.unsubscribe();
w1.sub.unsubscribe();
dl1.end();
const res = await fetch(CONTROL, {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ conversationId, text: 'while you were away' }),
});
if (!res.ok) fail('control send: ' + res.status);
const { ids } = await res.json();
log('the bot sent', ids[0], 'while disconnected');

// 3. Reconnect from the watermark: only the missed message arrives.
const framesBefore = stats.frames;
const dl2 = new DirectLine({ domain: DOMAIN, token, conversationId, watermark, webSocket: true });
const status2 = failOnStatus(dl2, 'reconnect status', ConnectionStatus.Ended);
const w2 = watch(dl2);
const missed = await w2.waitFor('the missed message', (a) => a.text === 'while you were away');
if (missed.id !== ids[0]) fail(`missed message id ${missed.id}, want ${ids[0]}`);
if (w2.seen[0] !== missed) fail('the reconnected stream replayed what was before the watermark: ' + JSON.stringify(w2.seen[0]));
if (stats.frames <= framesBefore) fail('the missed message did not come over the WebSocket');
log(`reconnected with watermark ${watermark} and received ${missed.id}; now at watermark ${dl2.watermark}`);
status2.unsubscribe();
w2.sub.unsubscribe();
dl2.end();

// 4. A client that cannot use WebSockets polls GET /activities instead.
const dl3 = new DirectLine({ domain: DOMAIN, token: dl2.token, conversationId, watermark: dl2.watermark, webSocket: false, pollingInterval: 200 });
const w3 = watch(dl3);
const polledId = await post(dl3, { type: 'message', text: 'polling', from: { id: 'alice' }, channelData: { clientActivityID: 'node-client-2' } });
await w3.waitFor('echo by polling', (a) => a.id === polledId && a.channelData && a.channelData.clientActivityID === 'node-client-2');
await w3.waitFor('bot reply by polling', (a) => a.text === 'echo: polling' && a.replyToId === polledId);
if (w3.seen.some((a) => a.text === 'while you were away')) fail('polling from the watermark replayed an old message');
log(`polled from watermark ${dl2.watermark}: echo and reply of ${polledId}`);
w3.sub.unsubscribe();
dl3.end();
log('ok');
process.exit(0);
