// The panel's databases against a real MariaDB (Debian's, started on loopback by the test): an admin
// adds the database host and tests its login, then on a server's Databases tab creates a database,
// reads its credentials and connects with them, rotates the password (the old one stops working),
// sees a refusal of the API as its message, and drops it. No Docker: the server never runs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../bin/commands/up.ts';
import { startMariaDb, type TestMariaDb } from '../helpers/mariadb.ts';
import { openPanelBrowser, type PanelBrowser } from '../helpers/browser.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SERVER = `web-db-${Math.random().toString(36).slice(2, 7)}`;
const ADMIN = { email: 'web-db-admin@example.test', username: 'webdbadmin', password: 'Db-Panel-Password-1!' };

describe('web panel: server databases on a real MariaDB', () => {
  let maria: TestMariaDb;
  let gantry: Embedded;
  let dataDir: string;
  let browser: PanelBrowser;
  let page: Page;

  beforeAll(async () => {
    maria = await startMariaDb();
    dataDir = await mkdtemp(path.join(tmpdir(), 'gantry-web-db-'));
    gantry = await startEmbedded({ dataDir, port: 0, host: '127.0.0.1', seedDir: path.join(ROOT, 'manifests/examples'), apiLimits: { authPerMinute: 1000, userPerMinute: 100_000 } });
    await gantry.api.accounts.createUser({ ...ADMIN, roleIds: ['admin'] });
    await gantry.store.create({ apiVersion: 'gantry.dev/v1alpha1', kind: 'GameServer', metadata: { name: SERVER, namespace: 'default' }, spec: { templateRef: 'testgame', state: 'Stopped', displayName: 'Web DB server' } });
    browser = await openPanelBrowser();
    page = browser.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gantry?.stop().catch(() => undefined);
    await maria?.stop().catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('adds the host, creates, reads, rotates and drops a database', async () => {
    await page.goto(gantry.url + '/admin/database-hosts');
    await page.getByLabel('Email or username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Database hosts' }).waitFor();
    await page.getByText('No database hosts').waitFor();

    await page.getByRole('button', { name: 'New database host' }).click();
    const d = page.getByRole('dialog');
    await d.getByLabel('Name', { exact: true }).fill('web-mariadb');
    await d.getByLabel('Host name or IP').fill(maria.host);
    await d.getByLabel('Port').fill(String(maria.port));
    await d.getByLabel('Admin user').fill(maria.admin.username);
    await d.getByLabel('Admin password').fill('wrong-password');
    await d.getByRole('button', { name: 'Save' }).click();
    // The login is tried first: the refusal is the API's message, and nothing is saved.
    await expect.poll(() => d.locator('[role=alert]').innerText(), { timeout: 20_000 }).toMatch(/web-mariadb|Access denied|login/i);
    await d.getByLabel('Admin password').fill(maria.admin.password);
    await d.getByRole('button', { name: 'Save' }).click();
    const hostRow = page.locator('tr[data-host="web-mariadb"]');
    await hostRow.waitFor();
    await hostRow.getByRole('button', { name: 'Test the login' }).click();
    await page.locator('.toast', { hasText: 'web-mariadb answers' }).waitFor();
    await browser.check('admin-database-hosts');

    await page.goto(`${gantry.url}/servers/${SERVER}/databases`);
    await page.getByText('No databases yet.').waitFor();
    await page.getByRole('button', { name: 'New database' }).click();
    await page.getByRole('dialog').getByLabel('Database', { exact: true }).fill('mysql');
    await page.getByRole('dialog').getByRole('button', { name: 'Create database' }).click();
    await expect.poll(() => page.getByRole('dialog').locator('[role=alert]').innerText()).toContain('mysql');
    await page.getByRole('dialog').getByLabel('Database', { exact: true }).fill('webdb');
    await page.getByRole('dialog').getByRole('button', { name: 'Create database' }).click();
    const row = page.locator('tr[data-database]').first();
    await row.waitFor();
    const name = await row.getAttribute('data-database');
    expect(name).toContain('webdb');
    const user = await row.locator('td[data-label=User] code').innerText();
    await row.getByRole('button', { name: 'Show' }).click();
    const password = await row.getByTestId('db-password').innerText();
    expect(password).toMatch(/^\S{16,}$/);
    await browser.check('server-databases');
    const conn = await maria.connect(user, password, name!);
    await conn.query('CREATE TABLE t (x INT)');
    await conn.end();

    await row.getByRole('button', { name: 'New password' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'New password' }).click();
    await expect.poll(() => row.getByTestId('db-password').innerText()).not.toBe(password);
    const rotated = await row.getByTestId('db-password').innerText();
    await expect(maria.connect(user, password, name!)).rejects.toThrow();
    await (await maria.connect(user, rotated, name!)).end();

    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No databases yet.').waitFor();
    await until('the database dropped on the host', async () => ((await maria.root<{ Database: string }[]>('SHOW DATABASES')) ?? []).every((r) => r.Database !== name));
    expect(browser.problems).toEqual([]);
  }, 120_000);
});
