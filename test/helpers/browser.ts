// Debian's chromium through playwright-core for the web panel's tests: a persistent context in a temp
// profile, and `check(name)`: screenshots at desktop and phone width (test-artifacts/web/, not
// committed), no sideways scrolling on a phone, and axe-core with no serious or critical violation.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { PACKAGE_ROOT } from '../../lib/package-files.ts';

const ROOT = PACKAGE_ROOT; // also when a bench runs this helper compiled (dist/test/helpers)
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web');
export const CHROMIUM = '/usr/bin/chromium';
/** LIBRARIES.md "Browser tests": what Debian's chromium needs headless on this kind of machine. */
export const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface PanelBrowser {
  ctx: BrowserContext;
  page: Page;
  /** The profile dir (downloads can be saved there). */
  profile: string;
  /** Page errors and CSP refusals seen so far (a test asserts it stays empty). */
  problems: string[];
  check(name: string): Promise<void>;
  close(): Promise<void>;
}

let axeSource = '';

export async function openPanelBrowser(): Promise<PanelBrowser> {
  await mkdir(ARTIFACTS, { recursive: true });
  const profile = await mkdtemp(path.join(tmpdir(), 'gantry-web-chrome-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, viewport: DESKTOP, acceptDownloads: true });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  const check = async (name: string) => {
    await page.waitForLoadState('networkidle').catch(() => undefined);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-phone.png`), fullPage: true });
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow, `${name}: the page scrolls sideways on a phone`).toBeLessThanOrEqual(1);
    await page.setViewportSize(DESKTOP);
    axeSource ||= await readFile(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
    // Evaluated through DevTools: the page's CSP (no inline script) stays on and untouched.
    if ((await page.evaluate('typeof window.axe')) !== 'object') await page.evaluate(axeSource);
    const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))`)) as string[];
    expect(violations, `${name}: axe`).toEqual([]);
  };
  return {
    ctx,
    page,
    profile,
    problems,
    check,
    async close() {
      await ctx.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
