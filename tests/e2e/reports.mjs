// A coordinator reads the reports in a real browser (Debian's Chromium driven by Playwright).
// Started by tests/it/browser.rs against `concierge serve --demo` (five weeks of generated
// history, one demo navigator named with hostile HTML).
// Environment: BASE_URL, COORDINATOR_EMAIL, PASSWORD, ARTIFACTS.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const artifacts = process.env.ARTIFACTS;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

function parseCsv(text) {
  return text.trim().split(/\r\n/).map((line) => {
    const cells = [];
    let cell = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') { quoted = false; } else { cell += c; }
      } else if (c === '"') { quoted = true; } else if (c === ',') { cells.push(cell); cell = ''; } else { cell += c; }
    }
    cells.push(cell);
    return cells;
  });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.fill('input[name=email]', process.env.COORDINATOR_EMAIL);
  await page.fill('input[name=password]', process.env.PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);

  // The reports page opens on the last 28 days.
  await page.click('nav a[href="/reports"]');
  await page.waitForURL(`${base}/reports`);
  const from = await page.inputValue('input[name=from]');
  const to = await page.inputValue('input[name=to]');
  const days = (Date.parse(to) - Date.parse(from)) / 86400000 + 1;
  assert.equal(days, 28, `the default range is 28 days (${from} to ${to})`);

  // The charts render: five SVG charts, bars and lines drawn.
  assert.equal(await page.locator('svg.chart').count(), 5, 'five charts');
  assert.ok(await page.locator('svg.chart rect.bar').count() > 10, 'bars are drawn');
  assert.ok(await page.locator('svg.chart circle.point').count() >= 2, 'the weekly trend has points');
  const box = await page.locator('svg.chart').first().boundingBox();
  assert.ok(box && box.width > 300 && box.height > 100, 'the first chart has a size on screen');
  const weeks = await page.locator('#response-table tbody tr').count();
  assert.ok(weeks >= 4, `rows by week (${weeks})`);
  await page.screenshot({ path: `${artifacts}/reports.png`, fullPage: true });

  // The filters live in the URL: group by navigator, and the link can be shared.
  await page.selectOption('select[name=group]', 'navigator');
  await page.click('.report-filters button[type=submit]');
  await page.waitForURL(/group=navigator/);
  const shared = page.url();
  assert.match(shared, /from=\d{4}-\d\d-\d\d/);
  // The demo navigator with a hostile name is shown as text, and nothing ran.
  const hostileRow = page.locator('#response-table tbody tr', { hasText: '<img src=x onerror=window.pwned=1>' });
  assert.equal(await hostileRow.count(), 1, 'the hostile name is shown as text');
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script ran');
  await page.screenshot({ path: `${artifacts}/reports-navigator.png`, fullPage: true });

  // The CSV download has the page's numbers.
  const csvHref = await page.locator('#responses a.export').getAttribute('href');
  const csvResponse = await context.request.get(`${base}${csvHref}`);
  assert.equal(csvResponse.status(), 200);
  const rows = parseCsv(await csvResponse.text());
  const header = rows[0];
  const csvTotal = rows[rows.length - 1];
  assert.equal(csvTotal[0], 'All');
  const footer = page.locator('#response-table tfoot tr');
  for (const column of ['threads', 'breaches', 'waiting', 'resolved', 'replies', 'reopens']) {
    const onPage = (await footer.locator(`[data-col=${column}]`).textContent()).trim();
    assert.equal(csvTotal[header.indexOf(column)], onPage, `${column}: CSV and page agree`);
  }
  for (const row of rows.slice(1, -1)) {
    const onPage = page.locator(`#response-table tbody tr[data-group="${row[0].replace(/^'/, '').replace(/"/g, '\\"')}"]`);
    assert.equal(await onPage.count(), 1, `the CSV row ${row[0]} is on the page`);
    assert.equal((await onPage.locator('[data-col=threads]').textContent()).trim(), row[header.indexOf('threads')]);
  }
  // The first-reply p50 of the total, in minutes in the CSV, is what the page says.
  const p50Minutes = Number(csvTotal[header.indexOf('reply_p50_min')]);
  const p50Text = (await footer.locator('[data-col=reply_p50]').textContent()).trim();
  const [, h, m] = p50Text.match(/^(?:(\d+) h )?(\d+) min/) || [];
  assert.equal(Number(h || 0) * 60 + Number(m), p50Minutes, `p50 ${p50Text} = ${p50Minutes} min`);

  // A hostile language filter is escaped back into the form, and runs nothing.
  await page.goto(`${base}/reports?language=${encodeURIComponent('"><script>window.pwned=2</script>')}`);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'no script ran from the URL');
  assert.equal(await page.inputValue('input[name=language]'), '"><script>window.pwned=2</script>');

  // The shared link opens the same report.
  await page.goto(shared);
  assert.equal(await page.inputValue('select[name=group]'), 'navigator');
  console.log('report browser checks passed');
} finally {
  await browser.close();
}
