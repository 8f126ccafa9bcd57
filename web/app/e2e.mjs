// The web app end to end, in Debian's Chromium driven by playwright-core
// (it never downloads a browser). An operator (admin key, desktop-sized
// window) and a person (a user session handed over by the console,
// phone-sized window) use herald's own page at "/":
//
//  1. the operator signs in; the live dashboard draws its charts;
//  2. the operator opens ada's notification center from Users (a user
//     session link), in a phone-sized window: the inbox stream is live and
//     Web Chat connects to herald's Direct Line;
//  3. the operator composes a broadcast to everyone; ada's notification
//     center shows it live (SSE) with an unread badge of 1;
//  4. ada marks it read: the badge goes to 0;
//  5. ada switches the category off; the operator sends the next one in
//     that category to ada: the console shows it skipped and why, and it
//     never reaches her inbox;
//  6. ada chooses "Start conversation" on the first one: the assistant, in
//     Web Chat, opens the dialog about that notification.
//
// Screenshots of each step go to E2E_ARTIFACTS. Any console error or
// uncaught error in either page fails the run. Run by
// internal/app/webapp_test.go; by hand:
//
//	HERALD_URL=http://127.0.0.1:8080 HERALD_ADMIN_KEY=hrd_... node web/app/e2e.mjs
//
// Environment: HERALD_URL, HERALD_ADMIN_KEY (required); E2E_USER (ada),
// E2E_ARTIFACTS (test-artifacts), CHROMIUM (/usr/bin/chromium),
// E2E_STEP_TIMEOUT_MS (15000).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`webapp: missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const base = need('HERALD_URL').replace(/\/+$/, '');
const adminKey = need('HERALD_ADMIN_KEY');
const user = process.env.E2E_USER || 'ada';
const artifacts = process.env.E2E_ARTIFACTS || 'test-artifacts';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const stepTimeout = Number(process.env.E2E_STEP_TIMEOUT_MS || 15000);

const started = Date.now();
const log = (msg) => console.log(`webapp: +${((Date.now() - started) / 1000).toFixed(2)}s ${msg}`);
const nonce = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

const pageErrors = [];
const notes = [];
function watch(page, who) {
  page.setDefaultTimeout(stepTimeout);
  page.on('console', (m) => {
    const line = `${who} console.${m.type()}: ${m.text()}`;
    if (m.type() === 'error') pageErrors.push(line);
    else if (m.type() === 'warning') notes.push(line);
  });
  page.on('pageerror', (e) => pageErrors.push(`${who} pageerror: ${e.stack || e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    // Streams the page ends itself when it closes are not failures.
    if (!why.includes('ERR_ABORTED')) notes.push(`${who} request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) notes.push(`${who} HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return page;
}

const shot = async (page, name) => {
  const path = join(artifacts, `webapp-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
};

let browser;
const pages = {};
try {
  await mkdir(artifacts, { recursive: true });
  for (const who of ['operator', 'person']) await rm(join(artifacts, `webapp-failed-${who}.png`), { force: true });
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: stepTimeout,
  });
  log(`launched ${executablePath} (Chromium ${browser.version()})`);
  const opCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const op = (pages.operator = watch(await opCtx.newPage(), 'operator'));

  // 1. The operator signs in; the dashboard draws live charts.
  await op.goto(`${base}/`);
  await shot(op, '0-signin');
  await op.getByLabel('Admin API key').fill(adminKey);
  await op.getByRole('button', { name: 'Sign in to the console' }).click();
  await op.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await op.locator('.tile').first().waitFor();
  await op.waitForFunction(() => document.querySelectorAll('.chart svg path').length >= 4);
  log('operator signed in; the dashboard is live');
  await shot(op, '1-dashboard');

  // 2. ada's notification center, from the console's Users page.
  await op.getByRole('link', { name: 'Users' }).click();
  await op.getByLabel('User id', { exact: true }).fill(user);
  await op.getByRole('button', { name: 'Open', exact: true }).click();
  await op.getByRole('button', { name: 'Open their notification center' }).click();
  const link = await op.locator('#session-link').getAttribute('href');
  if (!link || !link.startsWith('/#/me?session=hus_')) throw new Error(`unexpected session link ${link}`);
  await shot(op, '1-users');
  const meCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const me = (pages.person = watch(await meCtx.newPage(), 'person'));
  await me.goto(`${base}${link}`);
  await me.getByRole('heading', { name: /Notifications/ }).waitFor();
  if (me.url().includes('session=')) throw new Error('the session token stayed in the URL');
  await me.locator('#stream-state[data-state="open"]').waitFor();
  await me.locator('#webchat[data-state="connected"]').waitFor();
  await expectText(me.locator('#unread-badge'), '0');
  log(`${user}'s notification center is live (stream open, Web Chat connected)`);

  // 3. A broadcast to everyone, composed in the console.
  const title = 'Security training due';
  const message = `Finish Security 101 by Friday (e2e ${nonce})`;
  await op.getByRole('link', { name: 'Compose' }).click();
  await op.getByRole('radio', { name: 'Everyone' }).check();
  await op.getByLabel('Title', { exact: true }).fill(title);
  await op.getByLabel('Message').fill(message);
  await op.getByLabel('Category').fill('training');
  await op.locator('.preview').filter({ hasText: 'Mobile push' }).getByText(title).waitFor();
  await shot(op, '2-compose');
  await unlabelled(op, 'compose');
  await op.getByRole('button', { name: 'Send', exact: true }).click();
  await op.getByRole('heading', { name: `Event: ${title}` }).waitFor();
  await op.locator('[data-state="completed"]').waitFor();
  log('the broadcast was sent from the console and completed');
  await shot(op, '3-broadcast-status');
  // The explorer finds it again by the producer's (source, id).
  const eventId = await op.locator('[data-event-id]').getAttribute('data-event-id');
  const sourceId = await op.locator('[data-source-id]').getAttribute('data-source-id');
  await op.getByRole('link', { name: 'Events', exact: true }).click();
  await op.getByLabel('CloudEvent source').fill('urn:herald:console');
  await op.getByLabel('CloudEvent id').fill(sourceId);
  await op.getByRole('search', { name: 'Find by source and id' }).getByRole('button', { name: 'Show status' }).click();
  await op.locator(`[data-event-id="${eventId}"][data-state="completed"]`).waitFor();
  log('the event explorer finds it by source and id');

  const item = me.locator('.inbox li').filter({ hasText: message });
  await item.waitFor();
  await expectText(me.locator('#unread-badge'), '1');
  log(`${user}'s notification center shows it live, badge 1`);
  await shot(me, '4-person-inbox');

  // 4. Marking it read updates the badge.
  // With the keyboard: focus the button and press Enter.
  await item.getByRole('button', { name: /^Mark .* read$/ }).focus();
  await me.keyboard.press('Enter');
  await expectText(me.locator('#unread-badge'), '0');
  log('marked read (with the keyboard): badge 0');
  await unlabelled(me, 'notification center');

  // 5. Category off; the next one is skipped, and the console says why.
  const training = me.getByRole('switch', { name: 'training', exact: true });
  await training.scrollIntoViewIfNeeded();
  const saved = me.waitForResponse((r) => r.url().endsWith(`/v1/users/${user}/preferences`) && r.request().method() === 'PATCH' && r.ok());
  await training.uncheck();
  await saved;
  log('category training switched off');

  const second = `Second reminder (e2e ${nonce})`;
  await op.getByRole('link', { name: 'Compose' }).click();
  await op.getByRole('radio', { name: 'People' }).check();
  await op.getByLabel('User ids').fill(user);
  await op.getByLabel('Title', { exact: true }).fill('Training reminder');
  await op.getByLabel('Message').fill(second);
  await op.getByLabel('Category').fill('training');
  await op.getByRole('button', { name: 'Send', exact: true }).click();
  await op.getByRole('heading', { name: 'Event: Training reminder' }).waitFor();
  await op.locator('[data-state="completed"]').waitFor();
  await op.locator('tr[data-channel="inbox"] td[data-outcome="skipped_preference"]').filter({ hasText: '1' }).waitFor();
  await op.locator('tbody tr').filter({ hasText: 'skipped_preference' }).filter({ hasText: 'category switched off' }).first().waitFor();
  log('the console shows the next one skipped: category switched off');
  await shot(op, '5-skipped-status');
  await me.waitForTimeout(500);
  if (await me.locator('.inbox li').filter({ hasText: second }).count() !== 0) throw new Error('the skipped notification reached the inbox');

  // 6. "Start conversation" opens the assistant with the notification's context.
  await item.getByRole('button', { name: 'Start conversation' }).click();
  const reply = me.locator('.webchat__basic-transcript').getByText(/Let.s talk about this notification/).filter({ hasText: title });
  await reply.filter({ visible: true }).first().waitFor();
  log('"Start conversation" opened the dialog about the notification in Web Chat');
  await shot(me, '6-person-assistant');

  await op.waitForTimeout(300); // late console errors from the last renders
  if (pageErrors.length > 0) {
    throw new Error(`the pages reported ${pageErrors.length} error(s):\n  ${pageErrors.join('\n  ')}`);
  }
  for (const n of notes) log(`note: ${n}`);
  await browser.close();
  console.log('webapp: ok');
} catch (err) {
  console.error(`webapp: FAILED: ${err && err.stack ? err.stack : err}`);
  if (pageErrors.length > 0) console.error(`webapp: page errors:\n  ${pageErrors.join('\n  ')}`);
  for (const n of notes) console.error(`webapp: note: ${n}`);
  for (const [who, page] of Object.entries(pages)) {
    try {
      await page.screenshot({ path: join(artifacts, `webapp-failed-${who}.png`), fullPage: true, timeout: 3000 });
      console.error(`webapp: screenshot of the failure: ${join(artifacts, `webapp-failed-${who}.png`)}`);
    } catch (e) {
      console.error(`webapp: no failure screenshot of ${who}: ${e.message}`);
    }
  }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

// unlabelled fails when a form control of herald's own (Web Chat's are
// its own business) has no accessible name.
async function unlabelled(page, where) {
  const bad = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => !el.closest('#webchat') && el.type !== 'hidden')
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
    .map((el) => el.outerHTML.slice(0, 120)));
  if (bad.length) throw new Error(`${where}: controls without a label:\n  ${bad.join('\n  ')}`);
}

// expectText waits until locator's text is want.
async function expectText(locator, want) {
  const deadline = Date.now() + stepTimeout;
  let got;
  while (Date.now() < deadline) {
    got = (await locator.textContent())?.trim();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${locator} has text ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
