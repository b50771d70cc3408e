// The web panel end to end: Debian's chromium (playwright-core) against `gantry up` embedded with its
// local agent, real Docker and the test image, serving the built assets at `/`. One operator's
// session: first-run setup → a server from the example template → start (the phase follows) → the
// console shows the ready line → a typed command echoes → upload, drag and drop, edit, rename/move,
// chmod, archive and extract, delete → backup, download, restore → a schedule that runs a command →
// stop; then the admin pages (nodes with the enrolment command, egg import, users, alerts, audit),
// the YAML editor, an expired access token refreshed without losing the page, two-factor sign-in,
// and an API refusal shown as its message. Each page is screenshotted at desktop and phone width
// (test-artifacts/web/, not committed) and checked with axe-core (no serious or critical violation).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import type { GameNode } from '../../crds/types.ts';
import { until } from '../helpers/wait.ts';
import { openPanelBrowser, type PanelBrowser } from '../helpers/browser.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const NODE = 'web-e2e-node';
const SUFFIX = Math.random().toString(36).slice(2, 7);
const SERVER = `web-e2e-${SUFFIX}`;
const ADMIN = { email: 'web-admin@example.test', username: 'webadmin', password: 'Panel-Password-1!' };

describe('web panel (chromium against gantry up, real Docker)', () => {
  let gantry: Embedded;
  let dataDir: string;
  let browser: PanelBrowser;
  let page: Page;
  let profile: string;
  let token = '';
  let check: (name: string) => Promise<void>;

  /** The admin's REST calls, to check what the UI did through the same public API. */
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(gantry.url + p, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const phase = () => page.locator('.page-head .badge').first();
  const terminalText = () => page.locator('.xterm-rows').innerText();
  const alertText = () => page.locator('[role=alert]').first().innerText();

  async function tab(name: string): Promise<void> {
    await page.getByRole('tab', { name, exact: true }).click();
    await page.getByRole('tabpanel').waitFor();
  }

  beforeAll(async () => {
    // The assets are built by scripts/setup.sh; build them here too when this file runs on its own.
    await run('bash', [path.join(ROOT, 'scripts/build-web.sh')], { cwd: ROOT });
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-web-e2e-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), localAgent: { nodeName: NODE }, apiLimits: { authPerMinute: 1000, userPerMinute: 100_000 } });
    await until('the local node Online', async () => ((await gantry.store.get('GameNode', undefined, NODE)) as unknown as GameNode).status?.phase === 'Online');
    const base = 30_000 + Math.floor(Math.random() * 300) * 100;
    await gantry.store.patch('GameNode', undefined, NODE, { spec: { portRange: { start: base, end: base + 50 } } });
    browser = await openPanelBrowser();
    ({ page, profile, check } = browser);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await gantry?.stop().catch(() => undefined);
    await run('sh', ['-c', `docker ps -aq --filter label=gantry.dev/server-name=${SERVER} | xargs -r docker rm -f`]).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('first-run setup creates the administrator and opens the dashboard', async () => {
    await page.goto(gantry.url + '/');
    await page.getByRole('heading', { name: 'Welcome to Gantry' }).waitFor();
    await check('setup');
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByLabel('Repeat the password').fill('not the same');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    expect(await alertText()).toBe('The two passwords differ.');
    await page.getByLabel('Repeat the password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const login = await fetch(gantry.url + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }) });
    token = ((await login.json()) as { data: { token: string } }).data.token;
    await page.locator('.node-card', { hasText: 'Online' }).waitFor();
    await check('dashboard-empty');
  }, 60_000);

  it('creates a server from the example template; a taken name is refused with the API\'s message', async () => {
    await page.getByRole('button', { name: 'New server' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill(SERVER);
    await dialog.getByLabel('Template').selectOption('testgame');
    await dialog.getByLabel('Memory (MiB)').fill('64');
    await dialog.getByLabel('CPU cores').fill('0.5');
    await dialog.getByLabel('Disk (MiB, 0 = no quota)').fill('50');
    await dialog.getByLabel('Message of the day (MOTD)').fill('hello from the panel');
    await check('create-server');
    await dialog.getByRole('button', { name: 'Create server' }).click();
    await page.getByRole('tab', { name: 'Console' }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(SERVER);
    expect((await api('GET', `/api/servers/${SERVER}`)).body.data.environment).toMatchObject({ MOTD: 'hello from the panel' });

    await page.goto(gantry.url + '/');
    await page.getByRole('button', { name: 'New server' }).click();
    await page.getByRole('dialog').getByLabel('Name', { exact: true }).fill(SERVER);
    await page.getByRole('dialog').getByRole('button', { name: 'Create server' }).click();
    await expect.poll(() => page.getByRole('dialog').locator('[role=alert]').innerText()).toBe(`A server with id "${SERVER}" already exists; choose another name or give an id`);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('link', { name: SERVER }).click();
  }, 60_000);

  it('start: the buttons follow the phase; the console shows the ready line and echoes a command', async () => {
    const start = page.getByRole('button', { name: 'Start', exact: true });
    const stop = page.getByRole('button', { name: 'Stop', exact: true });
    // A new server may install first (its data dir is prepared before it is ever started): once it
    // has settled as stopped, only Start makes sense.
    await until('the new server settled as stopped', async () => (await phase().innerText()) === 'Stopped', 120_000);
    await expect.poll(() => stop.isDisabled()).toBe(true);
    await start.click();
    // While it installs and starts, Start stays disabled and the badge says what is happening.
    await expect.poll(() => start.isDisabled()).toBe(true);
    await until('the phase Running in the page', async () => (await phase().innerText()) === 'Running', 120_000);
    await expect.poll(() => stop.isEnabled()).toBe(true);
    expect(await start.isDisabled()).toBe(true);
    await expect.poll(terminalText, { timeout: 30_000 }).toContain('Done! server ready');
    expect(await terminalText()).toContain('motd=hello from the panel');
    await page.getByLabel('Console command').fill('say hello-from-the-web');
    await page.getByLabel('Console command').press('Enter');
    await expect.poll(terminalText, { timeout: 20_000 }).toContain('[say] hello-from-the-web');
    // ↑ brings the command back.
    await page.getByLabel('Console command').press('ArrowUp');
    expect(await page.getByLabel('Console command').inputValue()).toBe('say hello-from-the-web');
    await page.getByLabel('Console command').fill('');
    await check('server-console');
    // Reloading replays the history: the ready line is still there.
    await page.reload();
    await expect.poll(terminalText, { timeout: 20_000 }).toContain('[say] hello-from-the-web');
  }, 180_000);

  it('files: upload, drag and drop, edit with highlighting, move, chmod, archive and extract, delete; traversal refused', async () => {
    await tab('Files');
    await page.locator('[data-testid=file-manager] input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('first line\n') });
    await page.locator('tr[data-file="notes.txt"]').waitFor();
    // Drag and drop: a real DataTransfer dropped on the file manager.
    await page.evaluate(`(() => { const dt = new DataTransfer(); dt.items.add(new File(['dropped\\n'], 'dropped.txt', { type: 'text/plain' })); const el = document.querySelector('[data-testid=file-manager]'); el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true })); el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); })()`);
    await page.locator('tr[data-file="dropped.txt"]').waitFor();
    await check('server-files');

    await page.locator('tr[data-file="notes.txt"] th button').click();
    const editor = page.locator('.cm-content');
    await editor.waitFor();
    await expect.poll(() => editor.innerText()).toContain('first line');
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('edited in the browser\n');
    await check('server-editor');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await until('the edit saved', async () => (await api('GET', `/api/servers/${SERVER}/files/contents?path=/notes.txt`)).body?.data?.content === 'first line\nedited in the browser\n');
    await page.getByRole('button', { name: 'Close', exact: true }).click();

    // A rename that climbs out of the server's folder: the agent's refusal, word for word.
    await page.locator('tr[data-file="notes.txt"]').getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('dialog').getByLabel('New name (or a path from /)').fill('../escape.txt');
    await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
    const direct = await api('POST', `/api/servers/${SERVER}/files/rename`, { from: '/notes.txt', to: '/../escape.txt' });
    expect(direct.status).toBe(403);
    await expect.poll(() => page.getByRole('dialog').locator('[role=alert]').innerText()).toBe(direct.body.message);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

    await page.locator('tr[data-file="notes.txt"]').getByRole('button', { name: 'Permissions' }).click();
    await page.getByRole('dialog').getByLabel('Permissions').fill('rw-------');
    await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
    await expect.poll(() => page.locator('tr[data-file="notes.txt"] td[data-label=Permissions]').innerText()).toBe('rw-------');

    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByRole('dialog').getByLabel('Folder name').fill('unpacked');
    await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
    await page.locator('tr[data-file="unpacked"]').waitFor();
    await page.getByLabel('Select notes.txt').check();
    await page.getByRole('button', { name: 'Archive selected' }).click();
    await page.getByRole('dialog').getByLabel('Archive name (.tar.gz)').fill('bundle.tar.gz');
    await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
    await page.locator('tr[data-file="bundle.tar.gz"]').waitFor();
    await page.locator('tr[data-file="bundle.tar.gz"]').getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('dialog').getByLabel('New name (or a path from /)').fill('/unpacked/bundle.tar.gz');
    await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
    await page.locator('tr[data-file="bundle.tar.gz"]').waitFor({ state: 'detached' });
    await page.locator('tr[data-file="unpacked"] th button').click();
    await page.locator('tr[data-file="bundle.tar.gz"]').getByRole('button', { name: 'Extract' }).click();
    await page.locator('tr[data-file="notes.txt"]').waitFor();
    expect((await api('GET', `/api/servers/${SERVER}/files/contents?path=/unpacked/notes.txt`)).body.data.content).toBe('first line\nedited in the browser\n');
    await page.getByRole('button', { name: 'Parent folder' }).click();

    await page.locator('tr[data-file="dropped.txt"]').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.locator('tr[data-file="dropped.txt"]').waitFor({ state: 'detached' });
    expect((await api('GET', `/api/servers/${SERVER}/files/contents?path=/dropped.txt`)).status).toBe(404);
  }, 120_000);

  it('backups: create with progress, download, restore onto the stopped server', async () => {
    await tab('Backups');
    await page.getByRole('button', { name: 'New backup' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('web-e2e-backup');
    await page.getByRole('dialog').getByRole('button', { name: 'Back up now' }).click();
    const row = page.locator('tr[data-backup="web-e2e-backup"]');
    await row.waitFor();
    await expect.poll(() => row.locator('td[data-label=Status]').innerText(), { timeout: 60_000 }).toBe('Completed');
    await check('server-backups');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download' }).click()]);
    const saved = path.join(profile, 'backup.tar.gz');
    await download.saveAs(saved);
    const archive = await readFile(saved);
    expect(archive.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    // Change the file, stop, restore: the backed-up content is back.
    expect((await api('POST', `/api/servers/${SERVER}/files/write`, { path: '/notes.txt', content: 'changed after the backup\n' })).status).toBe(200);
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await until('the phase Stopped in the page', async () => (await phase().innerText()) === 'Stopped', 90_000);
    await row.getByRole('button', { name: 'Restore' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until('the file restored', async () => (await api('GET', `/api/servers/${SERVER}/files/contents?path=/notes.txt`)).body?.data?.content === 'first line\nedited in the browser\n', 60_000);
    // The Backup resource's YAML, then delete it (with confirmation).
    await row.getByRole('button', { name: 'YAML' }).click();
    await expect.poll(() => page.locator('.yaml-row .cm-content').innerText()).toContain('kind: Backup');
    await row.getByRole('button', { name: 'YAML' }).click();
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await api('GET', `/api/servers/${SERVER}/backups`)).body.data).toEqual([]);
  }, 180_000);

  it('schedules: the cron helper shows the next runs; a command schedule runs on request', async () => {
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await until('running again', async () => (await phase().innerText()) === 'Running', 120_000);
    await tab('Schedules');
    await page.getByRole('button', { name: 'New schedule' }).click();
    const d = page.getByRole('dialog');
    await d.getByLabel('Name').fill('web-e2e-say');
    await d.getByLabel('Command', { exact: true }).fill('say scheduled-by-the-panel');
    await d.getByLabel('Schedule (cron)').fill('0 25 * * *');
    await expect.poll(() => d.locator('.cron-help [role=alert]').innerText()).toContain('hour: 25 is out of range 0-23');
    await d.getByRole('button', { name: 'Every 15 minutes' }).click();
    await d.getByLabel('Time zone').fill('Europe/Paris');
    await expect.poll(() => d.locator('.next-runs li').count()).toBe(5);
    await check('server-schedule-editor');
    await d.getByRole('button', { name: 'Save' }).click();
    const row = page.locator('tr[data-task="web-e2e-say"]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Run now' }).click();
    await tab('Console');
    await expect.poll(terminalText, { timeout: 60_000 }).toContain('[say] scheduled-by-the-panel');
    await tab('Schedules');
    await row.getByRole('button', { name: 'YAML' }).click();
    await expect.poll(() => page.locator('.yaml-row .cm-content').innerText()).toContain('kind: Schedule');
    await check('server-schedules');
    // Edit: disabled from now on.
    await row.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Enabled').uncheck();
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await row.getByText('Disabled').waitFor();
    expect((await api('GET', `/api/tasks?serverId=${SERVER}`)).body.data[0]).toMatchObject({ name: 'web-e2e-say', enabled: false });
  }, 240_000);

  it('startup, graphs, activity, subusers and the YAML of the server', async () => {
    await tab('Startup');
    await page.getByLabel('Message of the day (MOTD)').waitFor();
    // The tabs work from the keyboard: arrows move between them.
    await page.getByRole('tab', { name: 'Startup' }).press('ArrowRight');
    await expect.poll(() => page.getByRole('tab', { name: 'Users' }).getAttribute('aria-selected')).toBe('true');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Users');
    await page.getByRole('tab', { name: 'Users' }).press('ArrowLeft');
    await page.getByLabel('Message of the day (MOTD)').waitFor();
    await check('server-startup');
    await page.getByLabel('Message of the day (MOTD)').fill('changed in startup');
    await page.getByRole('button', { name: 'Save' }).click();
    await until('the variable saved', async () => (await api('GET', `/api/servers/${SERVER}`)).body.data.environment.MOTD === 'changed in startup');
    await tab('Graphs');
    await page.locator('.charts figure, .empty').first().waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: '24 hours' }).click();
    await check('server-graphs');
    await tab('Activity');
    await page.locator('.audit-table', { hasText: 'server.start' }).waitFor();
    await check('server-activity');

    expect((await api('POST', '/api/admin/users', { email: 'friend@example.test', username: 'webfriend', password: 'Friend-Password-1!', roleIds: ['user'] })).status).toBe(201);
    await tab('Users');
    await page.getByRole('button', { name: 'Add a user' }).click();
    await page.getByRole('dialog').getByLabel('Email').fill('friend@example.test');
    await page.getByRole('dialog').getByLabel('file.read').check();
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.locator('table', { hasText: 'webfriend' }).waitFor();
    await check('server-subusers');
    await page.locator('tr', { hasText: 'webfriend' }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('file.write').check();
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await until('the grant changed', async () => (await api('GET', `/api/servers/${SERVER}/subusers`)).body.data[0]?.permissions.includes('file.write'));
    await page.locator('tr', { hasText: 'webfriend' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await page.locator('tr', { hasText: 'webfriend' }).waitFor({ state: 'detached' });
    expect((await api('GET', `/api/servers/${SERVER}/subusers`)).body.data).toEqual([]);

    await tab('Settings');
    const yaml = page.locator('.yaml-panel .cm-content');
    await expect.poll(() => yaml.innerText()).toContain('kind: GameServer');
    expect(await yaml.innerText()).not.toContain('resourceVersion');
    await check('server-settings');
    await page.getByLabel('Description').fill('described in settings');
    await page.getByRole('button', { name: 'Save', exact: true }).first().click();
    await until('the description saved', async () => (await api('GET', `/api/servers/${SERVER}`)).body.data.description === 'described in settings');
    // Edit the YAML: a new display name, applied through the resource API.
    await page.locator('.yaml-panel').getByRole('button', { name: 'Edit' }).click();
    const current = (await api('GET', `/k8s/apis/gantry.dev/v1alpha1/namespaces/default/gameservers/${SERVER}`)).body;
    const doc = `apiVersion: gantry.dev/v1alpha1\nkind: GameServer\nmetadata:\n  name: ${SERVER}\n  namespace: default\nspec:\n${Object.entries({ ...current.spec, displayName: 'Renamed in YAML' }).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}\n`;
    await page.locator('.yaml-panel .cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(doc);
    await page.locator('.yaml-panel').getByRole('button', { name: 'Apply' }).click();
    await until('the display name changed', async () => (await api('GET', `/api/servers/${SERVER}`)).body.data.name === 'Renamed in YAML');
  }, 180_000);

  it('an expired access token is refreshed without losing the page', async () => {
    const stored = JSON.parse((await page.evaluate(`localStorage.getItem('gantry.session')`)) as string) as { token: string; expiresAt: string };
    const claims = await gantry.api.auth.tokens.verify(stored.token, 'access');
    const expired = await gantry.api.auth.tokens.sign('access', { userId: claims.userId, email: claims.email, username: claims.username, permissions: claims.permissions, sid: claims.sid }, -120);
    // The page believes its token is good (expiresAt in the future), so the API's 401 is what triggers the refresh.
    await page.evaluate(`(() => { const s = JSON.parse(localStorage.getItem('gantry.session')); s.token = ${JSON.stringify(expired.token)}; localStorage.setItem('gantry.session', JSON.stringify(s)); })()`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Renamed in YAML' }).waitFor();
    await page.getByRole('link', { name: 'Nodes' }).click();
    await page.locator('.card', { hasText: NODE }).first().waitFor();
    const after = JSON.parse((await page.evaluate(`localStorage.getItem('gantry.session')`)) as string) as { token: string };
    expect(after.token).not.toBe(expired.token);
    expect(await page.getByRole('heading', { name: 'Sign in to Gantry' }).count()).toBe(0);
  }, 60_000);

  it('admin: nodes with the enrolment command, a template from a Pterodactyl egg, users and roles, alert rules, audit log', async () => {
    await check('admin-nodes');
    await page.getByRole('button', { name: 'New node' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('web-e2e-remote');
    await page.getByRole('dialog').getByLabel('Address', { exact: true }).fill('10.1.2.3');
    await page.getByRole('dialog').getByLabel('Memory capacity (MiB)').fill('4096');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    const command = page.getByTestId('enrol-command');
    await expect.poll(() => command.innerText()).toMatch(new RegExp(`^gantry agent --panel ${gantry.url.replace(/[.]/g, '\\.')} --token gdt_\\S+$`));
    await check('admin-node-enrol');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).first().click();
    const remote = page.locator('section.card', { hasText: 'web-e2e-remote' });
    // A second enrolment command for it (the first token is spent by the new one), and its capacity edited.
    await remote.getByRole('button', { name: 'Enrolment command' }).click();
    const second = await command.innerText();
    expect(second).toMatch(/--token gdt_/);
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).first().click();
    await remote.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Memory capacity (MiB)').fill('8192');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await until('the capacity saved', async () => (await api('GET', '/api/nodes/web-e2e-remote')).body.data.maxMemoryMb === 8192);
    await remote.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await remote.waitFor({ state: 'detached' });

    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByRole('button', { name: 'Import Pterodactyl egg' }).click();
    const egg = { meta: { version: 'PTDL_v2' }, name: 'Web Egg', docker_images: { 'Java 21': 'ghcr.io/pterodactyl/yolks:java_21' }, startup: 'java -jar {{SERVER_JARFILE}}', config: { stop: 'stop', startup: '{"done": ")! For help"}', files: '{"bukkit.xml":{"parser":"xml","find":{}}}' }, variables: [{ name: 'Jar', env_variable: 'SERVER_JARFILE', default_value: 'server.jar', rules: 'required|string', user_editable: true, user_viewable: true }] };
    await page.getByRole('dialog').getByLabel('Egg JSON').fill(JSON.stringify(egg));
    await page.getByRole('dialog').getByRole('button', { name: 'Preview' }).click();
    await page.getByRole('dialog').locator('.warnings', { hasText: 'bukkit.xml' }).waitFor();
    await check('admin-egg-import');
    await page.getByRole('dialog').getByRole('button', { name: 'Import', exact: true }).click();
    const imported = page.locator('section.card', { hasText: 'Web Egg' });
    await imported.waitFor();
    await imported.getByRole('button', { name: 'YAML' }).click();
    await expect.poll(() => imported.locator('.cm-content').innerText()).toContain('kind: ServerTemplate');
    await check('admin-templates');
    // A template by hand: a bad port is refused in the form, then saved and edited.
    await page.getByRole('button', { name: 'New template' }).click();
    const td = page.getByRole('dialog');
    await td.getByLabel('Id').fill('web-e2e-tmpl');
    await td.getByLabel('Name', { exact: true }).fill('Web template');
    await td.getByLabel('Image').fill('gantry-test/gameserver:1');
    await td.getByLabel('Start command').fill('/gameserver.sh --port {{SERVER_PORT}}');
    await td.getByLabel('Ports').fill('25565/TCP, 99999');
    await td.getByRole('button', { name: 'Add variable' }).click();
    await td.getByLabel('Variable 1: name').fill('greeting');
    await td.getByLabel('Variable 1: default').fill('hello');
    await check('admin-template-form');
    await td.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => td.locator('[role=alert]').innerText()).toBe('"99999" is not a port such as 25565 or 25565/UDP.');
    await td.getByLabel('Ports').fill('25565/TCP, 19132/UDP');
    await td.getByRole('button', { name: 'Save' }).click();
    await td.waitFor({ state: 'detached' });
    const made = (await api('GET', '/api/templates/web-e2e-tmpl')).body.data;
    expect(made).toMatchObject({ name: 'Web template', ports: [{ internal: 25565, protocol: 'TCP' }, { internal: 19132, protocol: 'UDP' }], variables: [expect.objectContaining({ name: 'GREETING', default: 'hello' })] });
    await page.locator('section.card', { hasText: 'Web template' }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Description', { exact: true }).fill('edited in the panel');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await until('the template edited', async () => (await api('GET', '/api/templates/web-e2e-tmpl')).body.data.description === 'edited in the panel');

    await page.getByRole('link', { name: 'Users and roles' }).click();
    await page.locator('table', { hasText: 'webfriend' }).waitFor();
    await check('admin-users');
    await page.getByRole('button', { name: 'New user' }).click();
    const ud = page.getByRole('dialog');
    await ud.getByLabel('Email').fill('ui-made@example.test');
    await ud.getByLabel('Username').fill('webuimade');
    await ud.getByLabel('Password', { exact: true }).fill('Ui-Made-Password-1!');
    await ud.getByRole('button', { name: 'Save' }).click();
    await page.locator('table', { hasText: 'webuimade' }).waitFor();
    await page.locator('tr', { hasText: 'webuimade' }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Disabled').check();
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.locator('tr', { hasText: 'webuimade' }).getByText('Disabled').waitFor();
    await page.getByRole('tab', { name: 'Roles' }).click();
    await page.locator('table', { hasText: 'admin' }).waitFor();
    await page.getByRole('button', { name: 'New role' }).click();
    await page.getByRole('dialog').getByLabel('Name', { exact: true }).fill('web-e2e-viewer');
    await page.getByRole('dialog').getByLabel('node.read').check();
    await check('admin-role-form');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.locator('table', { hasText: 'web-e2e-viewer' }).waitFor();
    expect((await api('GET', '/api/admin/roles')).body.data.find((r: { name: string }) => r.name === 'web-e2e-viewer').permissions).toEqual(['node.read']);
    await check('admin-roles');

    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('tab', { name: 'Rules' }).click();
    await page.getByRole('button', { name: 'New rule' }).click();
    await page.getByRole('dialog').getByLabel('Name').fill('web-e2e-crash');
    await page.getByRole('dialog').getByLabel('Type').selectOption('server_crashed');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.locator('.rule-row', { hasText: 'web-e2e-crash' }).waitFor();
    await check('admin-alert-rules');
    await page.getByRole('tab', { name: 'Alerts' }).click();
    await check('admin-alerts');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action').fill('template.*');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('.audit-table', { hasText: 'template.create' }).waitFor();
    await check('admin-audit');
  }, 180_000);

  it('two-factor sign-in: enrol on the account page, sign out, sign in with the code; themes', async () => {
    await page.getByRole('link', { name: ADMIN.username }).click();
    await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    const secret = await page.locator('p', { hasText: 'Secret:' }).locator('code').innerText();
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
    await page.getByLabel('Authenticator code').fill(totp.generate());
    await page.getByRole('button', { name: 'Verify and turn on' }).click();
    await page.locator('pre', { hasText: /^[0-9a-f]{10}/ }).waitFor();
    await check('account');
    await page.getByLabel('Theme').selectOption('light');
    expect(await page.evaluate('document.documentElement.dataset.theme')).toBe('light');
    await check('account-light');
    await page.getByLabel('Theme').selectOption('dark');
    expect(await page.evaluate('document.documentElement.dataset.theme')).toBe('dark');
    await check('account-dark');

    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Gantry' }).waitFor();
    await check('login');
    await page.getByLabel('Email or username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Authenticator code').waitFor();
    await page.getByLabel('Authenticator code').fill('000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(alertText).toBe('Invalid or already used two-factor code');
    // The next step's code (the current one was spent enrolling).
    await page.getByLabel('Authenticator code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Renamed in YAML' }).or(page.getByRole('heading', { name: 'Your account' })).waitFor();
  }, 90_000);

  it('the dashboard lists the server live; search and filters; then stop', async () => {
    await page.getByRole('link', { name: 'Dashboard' }).click();
    const row = page.locator(`tr[data-server="${SERVER}"]`);
    await row.waitFor();
    await expect.poll(() => row.locator('.badge').innerText()).toBe('Running');
    await expect.poll(() => row.locator('path').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.getByLabel('Search servers').fill('phase:stopped');
    await page.getByText('No server matches the search.').waitFor();
    await page.getByLabel('Search servers').fill('renamed');
    await row.waitFor();
    await check('dashboard');
    await row.getByRole('link').click();
    // Restart: the server goes through the cycle and comes back with a new start time.
    const before = (await api('GET', `/api/servers/${SERVER}`)).body.data.startedAt;
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await until('restarted', async () => {
      const d = (await api('GET', `/api/servers/${SERVER}`)).body.data;
      return d.status === 'running' && d.startedAt !== before;
    }, 120_000);
    await until('the page shows it running', async () => (await phase().innerText()) === 'Running', 60_000);
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await until('stopped', async () => (await phase().innerText()) === 'Stopped', 90_000);
    expect((await api('GET', `/api/servers/${SERVER}`)).body.data.status).toBe('stopped');
    expect(browser.problems).toEqual([]);
  }, 120_000);
});
