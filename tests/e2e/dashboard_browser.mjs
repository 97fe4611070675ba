// Drives toolgate's live dashboard in a real headless browser (Debian's Chromium, through the
// Chrome DevTools Protocol with puppeteer-core, which downloads no browser), for
// crates/toolgate/tests/e2e_dashboard.rs:
//
//   TOOLGATE_TEST_NODE_MODULES=target/e2e/node/node_modules \
//     node dashboard_browser.mjs <dashboard-url> <chromium> <screenshot.png> [token]
//
// 0. with a token (authentication on): waits for the page to ask for one, types it in and
//    submits it; what the page met until then (the refused first poll) is reported apart,
//    as `before_token`;
// 1. opens the page, waits for its first data, prints `READY {"calls": N}` (the "calls since
//    start" card);
// 2. reads a line `CALLED <n>` on stdin (the test made n tool calls meanwhile), waits until
//    the page shows at least N + n calls and has drawn its plots;
// 3. writes a full-page screenshot and prints `RESULT {...}`: what the page showed, and every
//    console error, uncaught exception, failed request and HTTP error the page met.
// Any step that fails prints `FAILED <why>` and exits 1.

import { createRequire } from 'node:module';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

const [url, chromium, screenshot, token] = process.argv.slice(2);
const modules = process.env.TOOLGATE_TEST_NODE_MODULES;
if (!url || !chromium || !screenshot || !modules) {
  console.error('usage: TOOLGATE_TEST_NODE_MODULES=... node dashboard_browser.mjs <url> <chromium> <screenshot.png>');
  process.exit(2);
}
const require = createRequire(`${modules}/`);
const { default: puppeteer } = await import(pathToFileURL(require.resolve('puppeteer-core')).href);

let problems = [];
let beforeToken = [];
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  // DevTools over a pipe, not a socket: Chromium exits when the pipe closes, so a killed or
  // crashed node never leaves a browser behind.
  pipe: true,
  // Root in a container has no user namespace for the sandbox; /dev/shm may be tiny.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'assert') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });

  const response = await page.goto(url, { waitUntil: 'load' });
  const csp = response.headers()['content-security-policy'] ?? null;
  if (token) {
    await page.waitForSelector('#token-form:not([hidden])', { timeout: 20000 });
    await page.type('#token', token);
    await page.click('#token-form button[type=submit]');
    await page.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 1, { timeout: 20000 });
    beforeToken = problems;
    problems = [];
  }
  await page.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 1, { timeout: 20000 });
  const calls = () => page.$eval('#total-calls', (e) => Number(e.textContent));
  const before = await calls();
  console.log(`READY ${JSON.stringify({ calls: before })}`);

  const called = /^CALLED (\d+)$/.exec((await nextLine()).trim());
  if (!called) throw new Error('expected `CALLED <n>` on stdin');
  const want = before + Number(called[1]);
  await page.waitForFunction(
    (n) => Number(document.getElementById('total-calls').textContent) >= n,
    { timeout: 30000 },
    want,
  );
  // Two more polls, so the plots have points to join.
  const updates = await page.evaluate(() => Number(document.body.dataset.updates));
  await page.waitForFunction((u) => Number(document.body.dataset.updates) >= u + 2, { timeout: 20000 }, updates);

  const shown = await page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    const rows = [...document.querySelectorAll('#tools tbody tr')].map((tr) =>
      [...tr.cells].map((c) => c.textContent));
    return {
      calls: Number(text('total-calls')),
      rate: text('total-rate'),
      status: text('status'),
      sessions: text('sessions'),
      config: text('config-hash'),
      tool_rows: rows,
      rate_plot_paths: document.querySelectorAll('#rate-plot svg path.series').length,
      latency_plots: document.querySelectorAll('#latency-plots .mini svg').length,
      budget_lines: document.querySelectorAll('#latency-plots svg line.budget').length,
      plots_with_budget: document.querySelectorAll('#latency-plots .mini[data-budget-p95]').length,
      plots_over_budget: document.querySelectorAll('#latency-plots .mini.over').length,
      source_rows: document.querySelectorAll('#sources tbody tr').length,
    };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  const stored = await page.evaluate(() => sessionStorage.getItem('toolgate.dashboard.token'));
  const tokenStored = token ? stored === token : stored === null;
  console.log(`RESULT ${JSON.stringify({ before, shown, csp, problems, before_token: beforeToken, token_stored: tokenStored })}`);
} catch (e) {
  console.log(`FAILED ${e && e.stack ? e.stack : e} (problems so far: ${JSON.stringify(problems)})`);
  process.exitCode = 1;
} finally {
  await browser.close();
  lines.close();
}
