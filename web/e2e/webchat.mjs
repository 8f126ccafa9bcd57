// Opens the official Web Chat (botframework-webchat's prebuilt bundle) on a
// test page pointed at herald's Direct Line, in Debian's Chromium driven by
// playwright-core, and checks that a proactive notification reaches it:
//
//  1. the page connects (Web Chat's DIRECT_LINE/CONNECT_FULFILLED);
//  2. "hello" is typed in the send box and sent, and the assistant's reply
//     appears (the assistant now holds ada's conversation reference);
//  3. a CloudEvent for ada is POSTed to herald's /v1/events with the
//     producer key, and its Adaptive Card (title and message) appears;
//  4. a full-page screenshot is written;
//  5. the card's "Start conversation" button (Action.Submit) is clicked and
//     the assistant's "Let's talk about this notification" reply appears.
//
// Any page console error or uncaught page error fails the run, as does a
// step that does not finish in time. Run by internal/app/webchat_test.go;
// by hand:
//
//	WEBCHAT_PAGE_URL=http://127.0.0.1:8081/ HERALD_URL=http://127.0.0.1:8080 \
//	HERALD_PRODUCER_KEY=hk_... node web/e2e/webchat.mjs
//
// Environment: WEBCHAT_PAGE_URL, HERALD_URL, HERALD_PRODUCER_KEY (required);
// WEBCHAT_USER (ada), WEBCHAT_SCREENSHOT (test-artifacts/webchat-proactive.png),
// CHROMIUM (/usr/bin/chromium), WEBCHAT_STEP_TIMEOUT_MS (10000).
// It never downloads a browser.
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`webchat: missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const pageURL = need('WEBCHAT_PAGE_URL');
const heraldURL = need('HERALD_URL').replace(/\/+$/, '');
const producerKey = need('HERALD_PRODUCER_KEY');
const user = process.env.WEBCHAT_USER || 'ada';
const screenshot = process.env.WEBCHAT_SCREENSHOT || 'test-artifacts/webchat-proactive.png';
const failedShot = screenshot.replace(/\.png$/, '') + '-failed.png';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const stepTimeout = Number(process.env.WEBCHAT_STEP_TIMEOUT_MS || 10000);

const started = Date.now();
const log = (msg) => console.log(`webchat: +${((Date.now() - started) / 1000).toFixed(2)}s ${msg}`);

// What the page said that counts as a failure, and what is only logged.
const pageErrors = [];
const notes = [];
let failPage;
const pageFailed = new Promise((_, reject) => {
  failPage = reject;
});
pageFailed.catch(() => {});
const pageError = (line) => {
  pageErrors.push(line);
  failPage(new Error(`the page reported an error: ${line}`));
};

const nonce = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const title = 'Security training due';
const message = `Finish Security 101 by Friday (e2e ${nonce})`;

// shown waits until one visible element matches (Web Chat repeats some
// text for screen readers, so a locator may match several). Web Chat's
// Markdown turns ' into a typographic apostrophe, hence the /./ in
// patterns below. A page error ends the wait at once.
const shown = (locator) => Promise.race([locator.filter({ visible: true }).first().waitFor(), pageFailed]);

let browser;
let page;
try {
  await mkdir(dirname(screenshot), { recursive: true });
  await rm(screenshot, { force: true });
  await rm(failedShot, { force: true });

  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: stepTimeout,
  });
  log(`launched ${executablePath} (Chromium ${browser.version()})`);
  const context = await browser.newContext({ viewport: { width: 760, height: 860 } });
  page = await context.newPage();
  page.setDefaultTimeout(stepTimeout);
  page.on('console', (m) => {
    const line = `console.${m.type()}: ${m.text()}`;
    if (m.type() === 'error') pageError(line);
    else if (m.type() === 'warning') notes.push(line);
  });
  page.on('pageerror', (e) => pageError(`pageerror: ${e.stack || e.message}`));
  page.on('requestfailed', (r) => notes.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) notes.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });

  // 1. Connect.
  // Loading and compiling the 4 MB bundle is the slow part on a busy machine.
  await page.goto(pageURL, { timeout: 2 * stepTimeout });
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const js = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/webchat.js'));
    return { load: Math.round(nav.loadEventEnd), js: js ? Math.round(js.responseEnd - js.startTime) : -1 };
  });
  log(`test page loaded (load event at ${timing.load} ms, webchat.js fetched in ${timing.js} ms)`);
  await Promise.race([page.waitForFunction(() => window.herald && window.herald.connected === true), pageFailed]);
  log('Web Chat connected to herald');

  // 2. Say hello; wait for the assistant.
  const input = page.locator('[data-id="webchat-sendbox-input"]');
  await input.fill('hello');
  await input.press('Enter');
  const transcript = page.locator('.webchat__basic-transcript');
  await shown(transcript.getByText('hello', { exact: true }));
  await shown(transcript.getByText(/I.m herald, your notification assistant/));
  log('the assistant answered hello');

  // 3. A notification for the user, from a producer.
  const ce = {
    specversion: '1.0',
    id: `webchat-e2e-${nonce}`,
    source: 'urn:herald:e2e',
    type: 'com.example.training.due',
    data: {
      audience: { users: [user] },
      notification: { title, message, actions: [{ id: 'startConversation', title: 'Start conversation' }] },
    },
  };
  const res = await fetch(`${heraldURL}/v1/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${producerKey}`, 'Content-Type': 'application/cloudevents+json' },
    body: JSON.stringify(ce),
  });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status} ${body}`);
  const eventID = JSON.parse(body).accepted[0].id;
  log(`event ${eventID} accepted`);

  const card = page.locator('.ac-adaptiveCard').filter({ hasText: message }).first();
  await shown(card.getByText(title, { exact: true }));
  await shown(card.getByText(message, { exact: true }));
  log('the proactive notification is in the transcript as an Adaptive Card');

  // 4. The artefact.
  await page.screenshot({ path: screenshot, fullPage: true });
  log(`screenshot ${screenshot}`);

  // 5. The card's Action.Submit goes back through Web Chat to the assistant.
  await card.getByRole('button', { name: 'Start conversation' }).click();
  await shown(transcript.getByText(/Let.s talk about this notification/).filter({ hasText: message }));
  log('"Start conversation" opened the dialog about the notification');

  await page.waitForTimeout(200); // late console errors from the last render
  if (pageErrors.length > 0) {
    throw new Error(`the page reported ${pageErrors.length} error(s)`);
  }
  for (const n of notes) log(`note: ${n}`);
  await browser.close();
  log('ok');
  console.log('webchat: ok');
} catch (err) {
  console.error(`webchat: FAILED: ${err && err.stack ? err.stack : err}`);
  if (pageErrors.length > 0) console.error(`webchat: page errors:\n  ${pageErrors.join('\n  ')}`);
  for (const n of notes) console.error(`webchat: note: ${n}`);
  if (page) {
    try {
      const seen = await page.evaluate(() => JSON.stringify(window.herald ? window.herald.activities : [], null, 1));
      console.error(`webchat: activities Web Chat received:\n${seen}`);
      await page.screenshot({ path: failedShot, fullPage: true, timeout: 3000 });
      console.error(`webchat: screenshot of the failure: ${failedShot}`);
    } catch (e) {
      console.error(`webchat: no failure screenshot: ${e.message}`);
    }
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
