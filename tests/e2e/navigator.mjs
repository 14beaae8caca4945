// A navigator's shift in a real browser (Debian's Chromium driven by Playwright).
// Started by tests/it/browser.rs, which runs the server and checks what reached the SMTP server.
// Environment: BASE_URL, NAV1_EMAIL, NAV2_EMAIL, PASSWORD, ARTIFACTS.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const artifacts = process.env.ARTIFACTS;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function logIn(email) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login$/, 'an anonymous visitor is sent to the login page');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', process.env.PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
  return page;
}

try {
  const page = await logIn(process.env.NAV1_EMAIL);
  // The crisis thread is at the top of the queue.
  const first = page.locator('tbody tr').first();
  assert.match(await first.getAttribute('class'), /risk-row-crisis/, 'crisis first');
  await page.screenshot({ path: `${artifacts}/queue.png`, fullPage: true });

  // Claim it.
  await first.locator('a').first().click();
  await page.waitForURL(/\/threads\/\d+$/);
  const threadUrl = page.url();
  await page.click('#claim');
  await page.waitForURL(threadUrl);
  assert.ok(await page.getByText('claimed by you').isVisible(), 'the claim is shown');
  await page.screenshot({ path: `${artifacts}/thread.png`, fullPage: true });

  // Compose from the template with resources, preview, send.
  await page.click('#reply');
  await page.waitForURL(/\/reply$/);
  const body = await page.inputValue('textarea[name=body]');
  assert.ok(body.includes('0800 111 0 111'), 'the German crisis line is pre-filled');
  await page.click('button[value=preview]');
  await page.getByText('Exactly what will be sent').waitFor();
  await page.screenshot({ path: `${artifacts}/compose.png`, fullPage: true });
  await page.click('button[value=send]');
  await page.waitForURL(threadUrl);
  await page.getByText('reply').first().waitFor();

  // A second navigator sees who holds it and cannot claim it.
  const other = await logIn(process.env.NAV2_EMAIL);
  await other.goto(threadUrl);
  assert.ok(await other.getByText('is working on this').first().isVisible(), 'the holder is shown to others');
  assert.equal(await other.locator('#claim').count(), 0, 'no claim button for a claimed thread');
  // The page's Content-Security-Policy forbids scripts from fetching, so ask with the
  // browser context's own request API (same cookies), as a forged form post would.
  const csrf = await other.locator('input[name=csrf]').first().inputValue();
  const refused = (await other.context().request.post(`${threadUrl}/claim`, { form: { csrf }, maxRedirects: 0 })).status();
  assert.equal(refused, 409, 'the server refuses a second claim');

  // A hostile HTML message runs no script, on the thread page or in its cleaned HTML view.
  await page.goto(`${base}/`);
  await page.locator('tbody tr', { hasText: 'Newsletter-looking' }).locator('a').first().click();
  await page.waitForURL(/\/threads\/\d+$/);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script ran on the thread page');
  await page.click('text=Show the original HTML');
  await page.waitForURL(/\/html$/);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script ran in the cleaned HTML');
  assert.equal(await page.locator('img').count(), 0, 'no images');
  await page.screenshot({ path: `${artifacts}/hostile-html.png`, fullPage: true });
  console.log('browser checks passed');
} finally {
  await browser.close();
}
