// Browser tests of the flinkbr console: a real daemon (the embedded default with its demo
// cluster, a temporary state directory, a free loopback port) and Debian's Chromium driven by
// playwright-core. Usage:
//   node console.test.mjs <path of the flinkbr binary> <path of web/dist> [screenshot dir]
// The daemon finds web/dist above its binary (src/server/daemon.cc); the test checks that it
// serves the build it was given. Screenshots go to docs/screenshots/ unless a directory is given.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [binary, dist, shotsArg] = process.argv.slice(2);
if (!binary || !dist) {
  console.error('usage: node console.test.mjs FLINKBR_BINARY WEB_DIST [SCREENSHOT_DIR]');
  process.exit(2);
}
if (!fs.existsSync(path.join(dist, 'index.html'))) {
  console.error(`console.test: ${dist}/index.html does not exist: build the console first (web/build.sh)`);
  process.exit(1);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('console.test: playwright-core is not installed: run tests/console/install.sh (scripts/test.sh does)');
  process.exit(1);
}
if (!fs.existsSync(process.env.FLINKBR_CHROMIUM || '/usr/bin/chromium')) {
  console.error("console.test: /usr/bin/chromium is missing: run scripts/install-deps.sh (Debian's chromium)");
  process.exit(1);
}
const shots = shotsArg ?? path.resolve(here, '../../docs/screenshots');
fs.mkdirSync(shots, { recursive: true });

// As the shared facts.md ("Chromium") says: no sandbox as root, and nothing that reaches out
// to the network (this machine's network is closed). Playwright gives each launch a new,
// empty profile directory.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CHROMIUM = process.env.FLINKBR_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 30_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Daemon {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flinkbr-console-'));
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.log = fs.openSync(path.join(this.dir, 'daemon.log'), 'w');
    // The embedded default keeps its state in ./flinkbr-state: run it inside the temp dir.
    this.proc = spawn(path.resolve(binary), ['serve'], {
      cwd: this.dir,
      env: { ...process.env, FLINKBR_LISTEN: `127.0.0.1:${this.port}` },
      stdio: ['ignore', this.log, this.log],
    });
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(this.url + '/api/v1/health');
        if (r.status === 200) break;
      } catch {}
      if (this.proc.exitCode !== null || Date.now() > deadline)
        throw new Error('the daemon did not become healthy:\n' + this.logText());
      await sleep(100);
    }
    this.state = path.join(this.dir, 'flinkbr-state');
    this.password = fs.readFileSync(path.join(this.state, 'initial-admin-password'), 'utf8').trim();
    this.token = (await this.api('POST', '/auth/login', { user: 'admin', password: this.password }, null)).body.token;
  }
  logText() {
    try {
      return fs.readFileSync(path.join(this.dir, 'daemon.log'), 'utf8');
    } catch {
      return '';
    }
  }
  // The REST API with the administrator's Bearer token (what the CLI does), to check what the
  // console shows against what the daemon says.
  async api(method, p, body, token = this.token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(this.url + '/api/v1' + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  }
  async stop() {
    if (!this.proc) return;
    // The demo's Flink service is a placeholder process: leave none behind.
    await this.api('POST', '/clusters/demo/service/stop').catch(() => {});
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
    fs.closeSync(this.log);
  }
}

let failures = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e.stack || e}`);
    throw e;
  }
}

async function shot(page, name) {
  // Times and names differ between runs; the layout is what the pictures are for.
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: false });
}

async function loginAs(page, url, user, password) {
  await page.goto(url + '/');
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Backup Management' }).waitFor();
}

const daemon = new Daemon();
let browser;
let mainPage; // for a picture of what the page showed when a step failed
try {
  await daemon.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  const context = await browser.newContext({
    viewport: { width: 1360, height: 860 },
    timezoneId: 'Europe/Berlin',
    locale: 'en-GB',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  mainPage = page;
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // The daemon's Content-Security-Policy must not block anything the console does.
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) pageErrors.push(m.text());
  });

  const conf = path.join(daemon.state, 'demo/flink/conf/flink-conf.yaml');
  const confBefore = fs.readFileSync(conf);
  let backupPath = '';

  await step('the daemon serves the built console at /, not to be framed by another site', async () => {
    const r = await fetch(daemon.url + '/');
    assert.equal(await r.text(), fs.readFileSync(path.join(dist, 'index.html'), 'utf8'));
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  });

  await step('log in: a wrong password is refused on the form, then the session cookie is set', async () => {
    await page.goto(daemon.url + '/');
    await page.getByRole('heading', { name: 'Log in to the flinkbr console' }).waitFor();
    // A first visit is not a lost session: no notice.
    assert.equal(await page.locator('.notice').count(), 0);
    await shot(page, 'login');
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
    await page.getByLabel('Password').fill(daemon.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Backup Management' }).waitFor();
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'flinkbr_session');
    assert.ok(cookie, 'no session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    // HttpOnly: the page's scripts cannot read it.
    assert.equal(await page.evaluate(() => document.cookie.includes('flinkbr_session')), false);
  });

  await step('keyboard: a dialog opens on Enter with focus in its first field, Escape closes it', async () => {
    const open = page.getByRole('button', { name: 'Create backup task' });
    await open.focus();
    await page.keyboard.press('Enter');
    const dlg = page.getByRole('dialog', { name: 'Create backup task' });
    await dlg.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'b-name');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Create backup task');
  });

  await step('create a LocalDir backup task', async () => {
    await page.getByRole('button', { name: 'Create backup task' }).click();
    const dlg = page.getByRole('dialog', { name: 'Create backup task' });
    await dlg.getByLabel('Task name').fill('nightly');
    await dlg.getByLabel('Path type').selectOption('LocalDir');
    // LocalDir asks only for its directory; no HDFS or OBS fields.
    assert.equal(await dlg.getByLabel('NameService name').count(), 0);
    assert.equal(await dlg.getByLabel('NameNode IP address').count(), 0);
    await shot(page, 'backup-create');
    await dlg.getByRole('button', { name: 'Create' }).click();
    await dlg.waitFor({ state: 'detached' });
    const row = page.locator('tr[data-task="nightly"]');
    await row.waitFor();
    assert.deepEqual(
      (await row.locator('th, td').allInnerTexts()).slice(0, 5),
      ['nightly', 'demo', 'Flink', 'LocalDir', 'manual'],
    );
  });

  await step('run it now; the row shows the run Succeeded', async () => {
    const row = page.locator('tr[data-task="nightly"]');
    await row.getByRole('button', { name: 'Run nightly now' }).click();
    await row.locator('.badge', { hasText: 'Succeeded' }).waitFor();
    // Local time shown, UTC on hover.
    const title = await row.locator('time').first().getAttribute('title');
    assert.match(title, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await shot(page, 'backups');
  });

  await step('View History, View the record, copy the backup path', async () => {
    await page.getByRole('button', { name: 'View history of nightly' }).click();
    const dlg = page.getByRole('dialog', { name: 'History of nightly' });
    await dlg.locator('tr[data-record] .badge', { hasText: 'Succeeded' }).waitFor();
    await dlg.getByRole('button', { name: /^View record/ }).first().click();
    const input = dlg.getByLabel('Backup path');
    backupPath = await input.inputValue();
    const records = (await daemon.api('GET', '/backup-tasks/nightly/records')).body.items;
    assert.equal(backupPath, records[0].backup_path);
    assert.match(backupPath, /\/LocalBackup\/nightly_\d{14}\/1\.18\.1_Flink_\d{14}\.tar\.gz$/);
    assert.equal(await dlg.getByTestId('backup-object').innerText(), 'Flink');
    await dlg.getByRole('button', { name: 'Copy' }).click();
    await dlg.getByText('Copied the backup path to the clipboard.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), backupPath);
    await shot(page, 'backup-history');
    await dlg.getByRole('button', { name: 'Close' }).click();
    await dlg.waitFor({ state: 'detached' });
  });

  // An upgrade goes wrong: the restoration must put this back.
  fs.writeFileSync(conf, 'broken\n');

  await step('a malformed field shows the server\'s message beside it', async () => {
    await page.getByRole('link', { name: 'Restoration Management' }).click();
    await page.getByRole('heading', { level: 1, name: 'Restoration Management' }).waitFor();
    await page.getByRole('button', { name: 'Create restoration task' }).click();
    const dlg = page.getByRole('dialog', { name: 'Create restoration task' });
    await dlg.getByLabel('Task name').fill('undo now!');
    await dlg.getByLabel(/^Source path/).fill(backupPath);
    await dlg.getByRole('button', { name: 'Create' }).click();
    // The same request as the CLI would send: the console shows the daemon's words.
    const server = await daemon.api('POST', '/restore-tasks', {
      name: 'undo now!', cluster: 'demo', data_source: 'Flink', path_type: 'LocalDir', source_path: backupPath,
    });
    assert.equal(server.status, 400);
    assert.equal(server.body.error.field, 'name');
    const msg = dlg.locator('#r-name-error');
    await msg.waitFor();
    assert.equal(await msg.innerText(), server.body.error.message);
    assert.equal(await dlg.getByLabel('Task name').getAttribute('aria-invalid'), 'true');
    await shot(page, 'restore-create-error');
  });

  await step('create a restoration task with the copied path; only the LocalDir fields', async () => {
    const dlg = page.getByRole('dialog', { name: 'Create restoration task' });
    await dlg.getByLabel('Task name').fill('undo');
    assert.equal(await dlg.getByLabel('Source NameService name').count(), 0);
    assert.equal(await dlg.getByLabel('Queue name').count(), 0);
    // RemoteHDFS asks for exactly its own parameters.
    await dlg.getByLabel('Path type').selectOption('RemoteHDFS');
    for (const l of ['Source NameService name', 'IP mode', 'Source NameNode IP address', 'Source path (full HDFS path)', 'Queue name'])
      assert.equal(await dlg.getByLabel(l).count(), 1, l);
    await dlg.getByLabel('Path type').selectOption('LocalDir');
    await dlg.getByLabel(/^Source path/).fill(await page.evaluate(() => navigator.clipboard.readText()));
    await dlg.getByRole('button', { name: 'Create' }).click();
    await dlg.waitFor({ state: 'detached' });
    await page.locator('tr[data-task="undo"][data-state="Created"]').waitFor();
  });

  await step('Start asks first, then is refused while the service runs, with the reason', async () => {
    const row = page.locator('tr[data-task="undo"]');
    await row.getByRole('button', { name: 'Start', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Start restoration undo?' });
    const text = await dlg.innerText();
    assert.match(text, /These will be overwritten/);
    assert.match(text, /ha-storage/);
    assert.match(text, /conf/);
    assert.match(text, /Everything written to them since the backup was taken will be lost/);
    assert.match(text, /must be stopped/);
    assert.match(text, /It is running now/);
    await shot(page, 'restore-start-confirm');
    await dlg.getByRole('button', { name: 'Start restoration' }).click();
    await page.locator('tr[data-task="undo"][data-state="Failed"]').waitFor();
    const reason = (await daemon.api('GET', '/restore-tasks/undo')).body.error;
    assert.match(reason, /running/);
    const shown = await page.locator('tr[data-error-of="undo"]').innerText();
    assert.ok(shown.includes(reason), `${shown} lacks ${reason}`);
    assert.equal(await row.getByRole('progressbar').getAttribute('data-state'), 'Failed');
    const red = await row.locator('.progress-fill').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(red, 'rgb(185, 28, 28)');
    assert.equal(fs.readFileSync(conf, 'utf8'), 'broken\n', 'a refused restoration changed the cluster');
    // Retry only on Failed tasks; Start no more.
    assert.equal(await row.getByRole('button', { name: 'Retry' }).count(), 1);
    assert.equal(await row.getByRole('button', { name: 'Start', exact: true }).count(), 0);
    await shot(page, 'restores-failed');
  });

  await step('stop the Flink service on Services, behind a confirmation', async () => {
    await page.getByRole('link', { name: 'Services' }).click();
    const row = page.locator('tr[data-cluster="demo"]');
    await row.locator('.badge', { hasText: 'running' }).waitFor();
    await shot(page, 'services');
    await row.getByRole('button', { name: 'Stop' }).click();
    const dlg = page.getByRole('dialog', { name: 'Stop the Flink service of demo?' });
    await dlg.getByRole('button', { name: 'Stop service' }).click();
    await page.locator('tr[data-cluster="demo"][data-service="stopped"]').waitFor();
    assert.equal((await daemon.api('GET', '/clusters/demo/service')).body.state, 'stopped');
  });

  await step('Retry and watch the bar turn green (live, from the event stream)', async () => {
    await page.getByRole('link', { name: 'Restoration Management' }).click();
    const row = page.locator('tr[data-task="undo"]');
    await row.getByRole('button', { name: 'Retry' }).click();
    const dlg = page.getByRole('dialog', { name: 'Retry restoration undo?' });
    await dlg.getByRole('button', { name: 'Retry restoration' }).click();
    // No reload and no polling: the end state comes over /api/v1/events.
    await page.locator('tr[data-task="undo"][data-state="Succeeded"]').waitFor();
    const bar = row.getByRole('progressbar');
    assert.equal(await bar.getAttribute('aria-valuenow'), '100');
    const green = await row.locator('.progress-fill').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(green, 'rgb(21, 128, 61)');
    assert.deepEqual(fs.readFileSync(conf), confBefore, 'flink-conf.yaml is not back as it was');
    await shot(page, 'restores-succeeded');
  });

  await step('details: the steps, log and safety copy of each attempt', async () => {
    await page.getByRole('button', { name: 'Details of undo' }).click();
    const dlg = page.getByRole('dialog', { name: 'Restoration undo' });
    await dlg.getByRole('heading', { name: /Attempt 2/ }).waitFor();
    await dlg.getByRole('heading', { name: /Attempt 1/ }).waitFor();
    const detail = (await daemon.api('GET', '/restore-tasks/undo')).body;
    const last = detail.attempt_history.at(-1);
    assert.ok(last.safety_copy, 'no safety copy on the successful attempt');
    const text = await dlg.innerText();
    assert.ok(text.includes(last.safety_copy));
    for (const s of last.steps) assert.ok(text.includes(s.name), s.name);
    assert.ok(detail.log.length > 0);
    assert.ok(text.includes(detail.log[0].text));
    // The log of every attempt: the first one's says why it was refused.
    const first = detail.attempt_history[0];
    assert.equal(first.state, 'Failed');
    assert.ok(first.log.length > 0);
    const firstLog = await dlg.getByRole('list', { name: 'Log of attempt 1' }).innerText();
    for (const l of first.log) assert.ok(firstLog.includes(l.text), l.text);
    assert.ok(text.includes(first.error));
    await shot(page, 'restore-details');
    await dlg.getByRole('button', { name: 'Close' }).click();
  });

  await step('after success the task offers to start the service', async () => {
    const row = page.locator('tr[data-task="undo"]');
    await row.getByRole('button', { name: 'Start service' }).click();
    const dlg = page.getByRole('dialog', { name: 'Start the Flink service of demo?' });
    await dlg.getByRole('button', { name: 'Start service' }).click();
    await dlg.waitFor({ state: 'detached' });
    assert.equal((await daemon.api('GET', '/clusters/demo/service')).body.state, 'running');
    await row.getByRole('button', { name: 'Start service' }).waitFor({ state: 'detached' });
  });

  await step('a viewer sees no button it cannot use', async () => {
    const made = await daemon.api('POST', '/users', { name: 'vera', role: 'viewer', password: 'viewer-password' });
    assert.equal(made.status, 201);
    await daemon.api('POST', '/restore-tasks', {
      name: 'fresh', cluster: 'demo', data_source: 'Flink', path_type: 'LocalDir', source_path: backupPath,
    });
    const vctx = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    vctx.setDefaultTimeout(TIMEOUT);
    const v = await vctx.newPage();
    await loginAs(v, daemon.url, 'vera', 'viewer-password');
    await v.locator('tr[data-task="nightly"]').waitFor();
    assert.equal(await v.getByRole('button', { name: /Run .* now/ }).count(), 0);
    assert.equal(await v.getByRole('button', { name: 'Create backup task' }).count(), 0);
    assert.equal(await v.getByRole('button', { name: 'View history of nightly' }).count(), 1);
    await v.getByRole('link', { name: 'Restoration Management' }).click();
    await v.locator('tr[data-task="fresh"][data-state="Created"]').waitFor();
    for (const name of ['Start', 'Retry', 'Start service', 'Create restoration task'])
      assert.equal(await v.getByRole('button', { name, exact: true }).count(), 0, name);
    assert.equal(await v.getByRole('button', { name: /^Delete/ }).count(), 0);
    assert.equal(await v.getByRole('button', { name: 'Details of fresh' }).count(), 1);
    await v.getByRole('link', { name: 'Services' }).click();
    await v.locator('tr[data-cluster="demo"]').waitFor();
    assert.equal(await v.getByRole('button', { name: /^(Stop|Start)$/ }).count(), 0);
    await vctx.close();
  });

  await step("long lists page (the API's limit/offset and total)", async () => {
    for (let i = 0; i < 25; i++) {
      const r = await daemon.api('POST', '/restore-tasks', {
        name: `page-${String(i).padStart(2, '0')}`, cluster: 'demo', data_source: 'Flink', path_type: 'LocalDir', source_path: backupPath,
      });
      assert.equal(r.status, 201);
    }
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Restoration Management' }).waitFor();
    const pager = page.getByRole('navigation', { name: 'Pages of restoration tasks' });
    await pager.getByText('Page 1 of 2 (27 restoration tasks)').waitFor();
    assert.equal(await page.locator('tr[data-task]').count(), 20);
    await pager.getByRole('button', { name: 'Next ›' }).click();
    await pager.getByText('Page 2 of 2 (27 restoration tasks)').waitFor();
    await page.locator('tr[data-task="page-24"]').waitFor();
    assert.equal(await page.locator('tr[data-task]').count(), 7);
    assert.equal(await page.locator('tr[data-task="undo"]').count(), 0);
  });

  await step('log out clears the session', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor();
    assert.equal((await context.cookies()).filter((c) => c.name === 'flinkbr_session').length, 0);
    const r = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(r, 401);
  });

  assert.deepEqual(pageErrors, [], 'errors in the page');
} catch (e) {
  if (!failures) console.log(`FAIL ${e.stack || e}`);
  failures++;
  if (mainPage) {
    const where = path.join(daemon.dir ?? os.tmpdir(), 'failure.png');
    await mainPage.screenshot({ path: where }).catch(() => {});
    console.log(`--- the page at the failure: ${where} ---`);
    console.log(await mainPage.locator('main').innerText().catch(() => '(no main)'));
  }
  console.log('--- daemon log ---\n' + daemon.logText());
} finally {
  await browser?.close().catch(() => {});
  await daemon.stop().catch((e) => console.log('stopping the daemon: ' + e));
  if (!failures && daemon.dir) fs.rmSync(daemon.dir, { recursive: true, force: true });
}
console.log(failures ? `console tests: FAILED` : 'console tests: all passed');
process.exit(failures ? 1 : 0);
