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
      // A FlinkServiceData backup pauses a minute after its "savepoints" source (the crash
      // tests' fault injection): long enough to see a run Running in the console.
      env: { ...process.env, FLINKBR_LISTEN: `127.0.0.1:${this.port}`, FLINKBR_FAULT_INJECTION: 'pause-after-backup:savepoints' },
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

// Every button in the page's main area (or its open dialog) is inside the viewport and clickable
// (nothing covers it): the action column is never cut off on a narrow screen.
async function assertButtonsReachable(page, where) {
  const { width } = page.viewportSize();
  // An open modal dialog covers the page: then its buttons are the ones to reach.
  const dialogOpen = (await page.locator('dialog[open]').count()) > 0;
  const buttons = page.locator(dialogOpen ? 'dialog[open] button:visible' : 'main button:visible');
  const n = await buttons.count();
  assert.ok(n > 0, `${where}: no buttons`);
  for (let i = 0; i < n; i++) {
    const b = buttons.nth(i);
    // Scroll the page up or down only: a button reachable only by scrolling a table sideways
    // counts as cut off.
    await b.evaluate((el) => window.scrollBy(0, el.getBoundingClientRect().top - window.innerHeight / 2));
    const box = await b.boundingBox();
    const name = (await b.getAttribute('aria-label')) ?? (await b.innerText());
    assert.ok(box, `${where}: ${name} has no box`);
    assert.ok(box.x >= 0 && box.x + box.width <= width + 0.5, `${where}: "${name}" is outside the ${width} px viewport (x ${box.x}, width ${box.width})`);
    // Disabled buttons cannot take a trial click; their place is what counts.
    if (await b.isEnabled()) await b.click({ trial: true, timeout: 5000 });
  }
  // Nor does the page scroll sideways.
  const scrollW = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollW <= width + 1, `${where}: the page is ${scrollW} px wide in a ${width} px viewport`);
  return n;
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

  await step('Restore on a Succeeded record opens the creation form filled in: the user types only a name', async () => {
    await page.getByRole('button', { name: 'View history of nightly' }).click();
    const hist = page.getByRole('dialog', { name: 'History of nightly' });
    const records = (await daemon.api('GET', '/backup-tasks/nightly/records')).body.items;
    const rec = records[0];
    await hist.getByRole('button', { name: `Restore record ${rec.id}` }).click();
    const dlg = page.getByRole('dialog', { name: 'Create restoration task' });
    await dlg.waitFor();
    // What the record says, shown, not asked for.
    assert.equal(await dlg.getByTestId('from-path').innerText(), rec.backup_path);
    assert.equal(await dlg.getByTestId('from-path-type').innerText(), 'LocalDir');
    assert.equal(await dlg.getByTestId('from-data-source').innerText(), 'Flink');
    assert.equal(await dlg.getByLabel(/^Source path/).count(), 0);
    // The cluster is the task's, and may be changed (a migration).
    assert.equal(await dlg.getByLabel('Recovery object (cluster)').inputValue(), 'demo');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'r-name');
    await shot(page, 'restore-from-record');
    await dlg.getByLabel('Task name').fill('from-record');
    await dlg.getByRole('button', { name: 'Create' }).click();
    await dlg.waitFor({ state: 'detached' });
    await hist.getByText('Restoration task from-record created.').waitFor();
    const made = (await daemon.api('GET', '/restore-tasks/from-record')).body;
    assert.deepEqual(
      [made.cluster, made.data_source, made.path_type, made.source_path, made.state],
      ['demo', 'Flink', 'LocalDir', rec.backup_path, 'Created'],
    );
    // Only Succeeded records offer Restore.
    assert.equal(await hist.getByRole('button', { name: /^Restore record/ }).count(), records.filter((r) => r.status === 'Succeeded').length);
    await hist.getByRole('button', { name: 'Close' }).click();
    await hist.waitFor({ state: 'detached' });
    assert.equal((await daemon.api('DELETE', '/restore-tasks/from-record')).status, 200);
  });

  await step("Restore from a record whose file is gone: the daemon's refusal under the form, nothing created", async () => {
    const run = await daemon.api('POST', '/backup-tasks/nightly/run');
    assert.equal(run.status, 202);
    let rec;
    for (let i = 0; i < 300 && rec?.status !== 'Succeeded'; i++) {
      await sleep(100);
      rec = (await daemon.api('GET', `/backup-records/${run.body.id}`)).body;
    }
    assert.equal(rec.status, 'Succeeded');
    fs.renameSync(rec.backup_path, rec.backup_path + '.away');
    try {
      await page.getByRole('button', { name: 'View history of nightly' }).click();
      const hist = page.getByRole('dialog', { name: 'History of nightly' });
      await hist.getByRole('button', { name: `Restore record ${rec.id}` }).click();
      const dlg = page.getByRole('dialog', { name: 'Create restoration task' });
      await dlg.getByLabel('Task name').fill('gone');
      await dlg.getByRole('button', { name: 'Create' }).click();
      const server = (await daemon.api('POST', '/restore-tasks', { name: 'gone', from_record: rec.id })).body.error;
      assert.match(server.message, /not found/);
      await dlg.getByRole('alert').filter({ hasText: server.message }).waitFor();
      assert.equal((await daemon.api('GET', '/restore-tasks/gone')).status, 404);
      await dlg.getByRole('button', { name: 'Cancel' }).click();
      await hist.getByRole('button', { name: 'Close' }).click();
      await hist.waitFor({ state: 'detached' });
    } finally {
      fs.renameSync(rec.backup_path + '.away', rec.backup_path);
    }
  });

  await step('backup tasks: Suspend and Resume, Verify shows the result, Delete asks naming the task', async () => {
    assert.equal((await daemon.api('POST', '/backup-tasks', { name: 'hourly', cluster: 'demo', data_source: 'Flink', path_type: 'LocalDir', period: '1h' })).status, 201);
    assert.equal((await daemon.api('POST', '/backup-tasks', { name: 'scratch', cluster: 'demo', data_source: 'Flink', path_type: 'LocalDir' })).status, 201);
    await page.reload();
    const hourly = page.locator('tr[data-task="hourly"]');
    await hourly.waitFor();
    // Manual tasks have no schedule to suspend.
    assert.equal(await page.locator('tr[data-task="nightly"]').getByRole('button', { name: /^(Suspend|Resume) / }).count(), 0);
    await hourly.getByRole('button', { name: 'Suspend hourly' }).click();
    await hourly.getByText('every 1h (suspended)').waitFor();
    assert.equal((await daemon.api('GET', '/backup-tasks/hourly')).body.suspended, true);
    await hourly.getByRole('button', { name: 'Resume hourly' }).click();
    await hourly.getByRole('button', { name: 'Suspend hourly' }).waitFor();
    assert.equal((await daemon.api('GET', '/backup-tasks/hourly')).body.suspended, false);

    // Verify reads the newest Succeeded file of nightly back.
    await page.getByRole('button', { name: 'Verify the newest backup of nightly' }).click();
    const v = page.getByRole('dialog', { name: 'Verify the newest backup of nightly' });
    const result = v.getByTestId('verify-result');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-ok'), 'true');
    const rec = (await daemon.api('GET', '/backup-tasks/nightly/records')).body.items[0];
    const text = await v.innerText();
    assert.match(text, /The backup file is intact/);
    assert.ok(text.includes(rec.checksum), `${text} lacks ${rec.checksum}`);
    assert.ok(text.includes(rec.backup_path));
    await shot(page, 'backup-verify');
    await v.getByRole('button', { name: 'Close' }).first().click();
    // A task that never succeeded has nothing to verify, and says so.
    await page.getByRole('button', { name: 'Verify the newest backup of scratch' }).click();
    const v2 = page.getByRole('dialog', { name: 'Verify the newest backup of scratch' });
    await v2.getByText('scratch has no Succeeded backup to verify.').waitFor();
    await v2.getByRole('button', { name: 'Close' }).first().click();

    // Delete names the task, and Cancel changes nothing.
    await page.getByRole('button', { name: 'Delete scratch' }).click();
    const d = page.getByRole('dialog', { name: 'Delete backup task scratch?' });
    await d.getByRole('button', { name: 'Cancel' }).click();
    await d.waitFor({ state: 'detached' });
    assert.equal((await daemon.api('GET', '/backup-tasks/scratch')).status, 200);
    await page.getByRole('button', { name: 'Delete scratch' }).click();
    await shot(page, 'backup-delete-confirm');
    await d.getByRole('button', { name: 'Delete task' }).click();
    await page.locator('tr[data-task="scratch"]').waitFor({ state: 'detached' });
    await page.getByText('Backup task scratch deleted.').waitFor();
    assert.equal((await daemon.api('GET', '/backup-tasks/scratch')).status, 404);
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

  await step('Users: create, change the role, reset the password, delete (not yourself)', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    const me = page.locator('tr[data-user="admin"]');
    await me.waitFor();
    // Yourself: no role change, reset or delete.
    assert.equal(await me.getByRole('button').count(), 0);
    await page.getByRole('button', { name: 'Create user' }).click();
    const c = page.getByRole('dialog', { name: 'Create user' });
    await c.getByLabel('User name').fill('olga');
    await c.getByLabel('Role').selectOption('operator');
    await c.getByLabel('Password').fill('short');
    await c.getByRole('button', { name: 'Create' }).click();
    // The daemon's refusal beside the field it names.
    await c.locator('#u-password-error').getByText('a password must have at least 8 characters').waitFor();
    await c.getByLabel('Password').fill('olga-password');
    await c.getByRole('button', { name: 'Create' }).click();
    await c.waitFor({ state: 'detached' });
    const row = page.locator('tr[data-user="olga"]');
    await row.waitFor();
    assert.equal(await row.locator('td').first().innerText(), 'operator');
    await shot(page, 'users');

    await row.getByRole('button', { name: 'Change the role of olga' }).click();
    const r = page.getByRole('dialog', { name: 'Change the role of olga' });
    await r.getByLabel('Role').selectOption('viewer');
    await r.getByRole('button', { name: 'Change role' }).click();
    await page.getByText('olga is now a viewer.').waitFor();
    assert.equal((await daemon.api('GET', '/users')).body.items.find((u) => u.name === 'olga').role, 'viewer');

    const olga = (await daemon.api('POST', '/auth/login', { user: 'olga', password: 'olga-password' }, null)).body.token;
    await row.getByRole('button', { name: 'Reset the password of olga' }).click();
    const p = page.getByRole('dialog', { name: 'Reset the password of olga' });
    await p.getByLabel('New password').fill('olga-new-password');
    await p.getByRole('button', { name: 'Reset password' }).click();
    await page.getByText('The password of olga was reset; their sessions ended.').waitFor();
    assert.equal((await daemon.api('GET', '/auth/me', undefined, olga)).status, 401);
    assert.equal((await daemon.api('POST', '/auth/login', { user: 'olga', password: 'olga-new-password' }, null)).status, 200);

    await row.getByRole('button', { name: 'Delete olga' }).click();
    const d = page.getByRole('dialog', { name: 'Delete user olga?' });
    await d.getByRole('button', { name: 'Delete user' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await daemon.api('GET', '/users')).body.items.some((u) => u.name === 'olga'), false);
  });

  await step('Audit Log: newest first, paged, with what was just done', async () => {
    await page.getByRole('link', { name: 'Audit Log' }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit Log' }).waitFor();
    const api = (await daemon.api('GET', '/audit?limit=20&offset=0')).body;
    const first = page.locator('tr[data-audit]').first();
    await first.waitFor();
    assert.equal(await first.getAttribute('data-audit'), String(api.items[0].id));
    const texts = await page.locator('tr[data-audit] td:nth-child(3)').allInnerTexts();
    assert.equal(texts.length, 20);
    assert.deepEqual(texts, api.items.map((e) => e.action));
    assert.ok(texts.indexOf('user.delete') < texts.indexOf('user.create'), texts.join(' '));
    const ids = (await page.locator('tr[data-audit]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.audit))));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'not newest first');
    const pager = page.getByRole('navigation', { name: 'Pages of entries' });
    await pager.getByText(`Page 1 of ${Math.ceil(api.total / 20)} (${api.total} entries)`).waitFor();
    await shot(page, 'audit');
    await pager.getByRole('button', { name: 'Next ›' }).click();
    await page.locator(`tr[data-audit="${(await daemon.api('GET', '/audit?limit=20&offset=20')).body.items[0].id}"]`).waitFor();
    // Filtered by user and action (the API's exact match), back on the first page.
    await page.getByLabel('User', { exact: true }).fill('admin');
    await page.getByLabel('Action', { exact: true }).fill('user.delete');
    await page.getByRole('button', { name: 'Filter' }).click();
    const only = (await daemon.api('GET', '/audit?user=admin&action=user.delete')).body;
    assert.equal(only.total, 1);
    await page.locator(`tr[data-audit="${only.items[0].id}"]`).waitFor();
    assert.equal(await page.locator('tr[data-audit]').count(), 1);
    assert.equal(await page.locator(`tr[data-audit="${only.items[0].id}"] td:nth-child(4)`).innerText(), 'olga');
    await page.getByLabel('User', { exact: true }).fill('nobody');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No entries match the filter.').waitFor();
    await page.getByRole('link', { name: 'Restoration Management' }).click();
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
    // Users and Audit Log are not offered; typing their address gets the API's refusal.
    assert.equal(await v.getByRole('link', { name: 'Users' }).count(), 0);
    assert.equal(await v.getByRole('link', { name: 'Audit Log' }).count(), 0);
    await v.goto(daemon.url + '/#/users');
    await v.getByRole('alert').filter({ hasText: 'the administrator role is required to list users' }).waitFor();
    assert.equal(await v.getByRole('button', { name: 'Create user' }).count(), 0);
    await v.goto(daemon.url + '/#/audit');
    await v.getByRole('alert').filter({ hasText: 'the administrator role is required to read the audit log' }).waitFor();
    // Every user changes their own password.
    await v.getByRole('button', { name: 'Change my password' }).click();
    const cp = v.getByRole('dialog', { name: 'Change my password' });
    await cp.getByLabel('Current password').fill('not-my-password');
    await cp.getByLabel('New password').fill('viewer-password-2');
    await cp.getByRole('button', { name: 'Change password' }).click();
    await cp.locator('#my-current-password-error').getByText('the current password is wrong').waitFor();
    await cp.getByLabel('Current password').fill('viewer-password');
    await cp.getByRole('button', { name: 'Change password' }).click();
    await v.getByText('Your password was changed.').waitFor();
    // This session stays; the new password logs in.
    assert.equal(await v.evaluate(async () => (await fetch('/api/v1/auth/me')).status), 200);
    assert.equal((await daemon.api('POST', '/auth/login', { user: 'vera', password: 'viewer-password-2' }, null)).status, 200);
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

  await step('progress shows the step and bytes when the daemon sends them, the percentage when not', async () => {
    // A restore running at a known point: the list answer gets a Running state and its
    // progress_detail on its way to the page, so that the words can be checked exactly.
    await page.goto(daemon.url + '/#/restores');
    await page.reload();
    const row = page.locator('tr[data-task="undo"]');
    await row.waitFor();
    assert.equal(await row.locator('.progress-detail').count(), 0);
    await page.route(/\/api\/v1\/restore-tasks\?/, async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      for (const t of body.items)
        if (t.name === 'undo')
          Object.assign(t, {
            state: 'Running',
            progress: 35,
            progress_detail: { step: 'extract', bytes_done: 1288490189, bytes_total: 3650722202, bytes_per_second: 220200960 },
          });
      await route.fulfill({ response: res, json: body });
    });
    await page.reload();
    await row.locator('.progress-detail').waitFor();
    assert.equal(await row.locator('.progress-detail').innerText(), 'extract · 1.2 GiB of 3.4 GiB, 210 MiB/s');
    assert.equal(await row.getByRole('progressbar').getAttribute('aria-valuetext'), '35% — Running — extract · 1.2 GiB of 3.4 GiB, 210 MiB/s');
    await shot(page, 'restores-progress');
    await page.unroute(/\/api\/v1\/restore-tasks\?/);
  });

  await step("health's role and active address show when the daemon says, nothing when not", async () => {
    assert.equal(await page.getByTestId('manager-role').count(), 0);
    await page.route('**/api/v1/health', (route) =>
      route.fulfill({ json: { status: 'ok', version: 'x', role: 'standby', active_address: '10.0.0.5:8443' } }),
    );
    await page.reload();
    await page.getByTestId('manager-role').waitFor();
    assert.equal(await page.getByTestId('manager-role').innerText(), 'standby · active: 10.0.0.5:8443');
    await page.unroute('**/api/v1/health');
  });

  await step('usable at 1360 px, 800 px and on a phone (375 px): every action inside the viewport and clickable', async () => {
    // The 25 tasks of the paging step have the same buttons as the rest: fewer rows, a quicker walk.
    for (let i = 0; i < 25; i++) assert.equal((await daemon.api('DELETE', `/restore-tasks/page-${String(i).padStart(2, '0')}`)).status, 200);
    const results = [];
    for (const [width, height] of [[1360, 860], [800, 900], [375, 812]]) {
      await page.setViewportSize({ width, height });
      for (const [hash, heading] of [['backups', 'Backup Management'], ['restores', 'Restoration Management'], ['services', 'Services'], ['users', 'Users']]) {
        await page.goto(`${daemon.url}/#/${hash}`);
        await page.reload();
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        await page.locator('main tbody tr').first().waitFor();
        results.push(`${width}px ${hash}: ${await assertButtonsReachable(page, `${width} px, ${heading}`)} buttons`);
        if (width === 375) {
          await page.evaluate(() => window.scrollTo(0, 0));
          await shot(page, `phone-${hash}`);
        }
      }
      // A wide dialog too: the history with its Restore buttons.
      await page.goto(`${daemon.url}/#/backups`);
      await page.getByRole('button', { name: 'View history of nightly' }).click();
      const hist = page.getByRole('dialog', { name: 'History of nightly' });
      await hist.locator('tr[data-record]').first().waitFor();
      results.push(`${width}px history: ${await assertButtonsReachable(page, `${width} px, history`)} buttons`);
      await hist.getByRole('button', { name: 'Close' }).click();
    }
    console.log('     ' + results.join('; '));
    await page.setViewportSize({ width: 1360, height: 860 });
  });

  await step('Run now and Delete are disabled while a run of that task is Running; its bar shows', async () => {
    // FlinkServiceData pauses a minute in the middle of the file (FLINKBR_FAULT_INJECTION above).
    assert.equal((await daemon.api('POST', '/backup-tasks', { name: 'slow', cluster: 'demo', data_source: 'FlinkServiceData', path_type: 'LocalDir' })).status, 201);
    await page.goto(daemon.url + '/#/backups');
    await page.reload();
    const row = page.locator('tr[data-task="slow"]');
    await row.getByRole('button', { name: 'Run slow now' }).click();
    await page.locator('tr[data-task="slow"][data-status="Running"]').waitFor();
    assert.equal(await row.getByRole('button', { name: 'Run slow now' }).isDisabled(), true);
    assert.equal(await row.getByRole('button', { name: 'Delete slow' }).isDisabled(), true);
    await row.getByRole('progressbar', { name: 'Progress of slow' }).waitFor();
    // The daemon sends the step and the bytes of a running backup (progress_detail): the bar
    // says them under the percentage (the run pauses in its write step).
    await row.locator('.progress-detail').waitFor();
    assert.match(await row.locator('.progress-detail').innerText(), /^write( · |$)/);
    // The API refuses a second run as well; the button only says so first.
    assert.notEqual((await daemon.api('POST', '/backup-tasks/slow/run')).status, 202);
    // Other tasks' buttons stay enabled.
    assert.equal(await page.getByRole('button', { name: 'Run nightly now' }).isEnabled(), true);
    await page.locator('.live.on').waitFor();
    await shot(page, 'backups-running');
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
