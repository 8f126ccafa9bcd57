// A Bot Framework bot built with the official botbuilder SDK, standing in
// for an existing Virtual Assistant in herald's external mode. It serves
// POST /api/messages in anonymous mode (no app id) on a loopback port,
// prints "listening <port>", and for every BroadcastEvent its handler sees
// prints "broadcast <value as JSON>".
import http from 'node:http';
import { ActivityHandler, CloudAdapter, ConfigurationBotFrameworkAuthentication } from 'botbuilder';

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
adapter.onTurnError = async (_ctx, err) => { console.log('turn error ' + err.message); };

class Assistant extends ActivityHandler {
  constructor() {
    super();
    this.onEvent(async (ctx, next) => {
      if (ctx.activity.name === 'BroadcastEvent') {
        console.log('broadcast ' + JSON.stringify(ctx.activity.value));
      }
      await next();
    });
  }
}
const bot = new Assistant();

// botbuilder expects an Express or Restify request and response; adapt
// Node's own.
function adapt(res) {
  res.status = (code) => { res.statusCode = code; return res; };
  res.header = (name, value) => { res.setHeader(name, value); return res; };
  res.send = (body) => {
    if (body !== undefined) {
      res.setHeader('Content-Type', 'application/json');
      res.write(typeof body === 'string' ? body : JSON.stringify(body));
    }
    return res;
  };
  return res;
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/messages') {
    res.writeHead(404).end();
    return;
  }
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { raw += c; });
  req.on('end', async () => {
    try {
      req.body = JSON.parse(raw);
    } catch {
      res.writeHead(400).end();
      return;
    }
    await adapter.process(req, adapt(res), (ctx) => bot.run(ctx));
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
