import { heartbeatHeaders } from '../helpers/signed.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { closeHttp, http, postJson } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess, type ServiceSpec } from '../helpers/router-process.js';

/**
 * The web view (GET /ui/) on a real router child: sign-in by ?token= (an
 * HttpOnly, SameSite=Strict cookie derived from the token, then a redirect
 * to the clean URL), the sign-in form, the data endpoint, and the page
 * itself in a real headless Chromium, updating live as heartbeats change.
 */

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn('skipping the web view browser tests: install chromium (apt-get install chromium)');

const SERVICES = (canary: ServiceSpec['canary']): Record<string, ServiceSpec> => ({
  lobby: {
    target: '1.5.0',
    canary,
    processes: [
      { version: '1.5.0', port: 7501 },
      { version: '1.5.0', port: 7502, index: 1 },
      { version: '1.4.0', port: 7500, state: 'draining' },
    ],
  },
  chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: 7600 }] },
});

let router: RouterProcess;
const terminals = new Map<string, Record<string, number>>([
  ['lobby@1.5.0#0', { '1.5.0': 7 }],
  ['lobby@1.5.0#1', { '1.5.0': 5 }],
  ['lobby@1.4.0#0', { '1.4.0': 3 }],
  ['chat@2.0.0#0', { '2.0.0': 4 }],
]);
let seq = 0;
let beating: NodeJS.Timeout | undefined;

/** One heartbeat from every process, with the counts in `terminals`. */
async function beatAll(): Promise<void> {
  seq += 1;
  await Promise.all(
    [...terminals].map(([process, counts]) => {
      const [service, rest] = process.split('@') as [string, string];
      const body = { service, version: rest.split('#')[0], process, seq, terminals: counts };
      return postJson(`${router.url}/v1/heartbeat`, body, heartbeatHeaders(router.token, JSON.stringify(body)));
    }),
  );
}

/** The revision files the store would have written, so the page has a history to show. */
async function writeRevision(generation: number, canary: ServiceSpec['canary']): Promise<void> {
  const dir = join(router.stateDir, 'history');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${generation}.json`), `${JSON.stringify(buildPolicy(SERVICES(canary), generation), null, 2)}\n`);
}

const userPm2HomeUntouched = guardUserPm2Home();

beforeAll(async () => {
  router = await startRouter({ mode: 'redirect', heartbeatInterval: '500ms', staleAfter: 10, policy: buildPolicy(SERVICES(null), 1) });
  await writeRevision(1, null);
  await beatAll();
  // Heartbeats keep coming, as from live processes, until the suite ends (bounded by afterAll).
  beating = setInterval(() => void beatAll().catch(() => undefined), 300);
});

afterAll(async () => {
  clearInterval(beating);
  await stopAllRouters();
  await closeHttp();
  userPm2HomeUntouched();
});

function cookieOf(setCookie: string | string[] | undefined): string {
  const line = Array.isArray(setCookie) ? setCookie[0]! : (setCookie ?? '');
  return line.split(';')[0]!;
}

describe('web view over HTTP', () => {
  it('asks for the token with a form, and refuses a wrong one', async () => {
    const page = await http(`${router.url}/ui/`);
    expect(page.status).toBe(401);
    expect(page.text).toMatch(/<form[^>]*action="\/ui\/"/);
    expect(page.text).toContain('name="token"');
    const wrong = await http(`${router.url}/ui/?token=${'0'.repeat(64)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect((await http(`${router.url}/ui/data`)).status).toBe(401);
  });

  it('turns ?token= into an HttpOnly, SameSite=Strict cookie that is not the token, and redirects to the clean URL', async () => {
    const answer = await http(`${router.url}/ui/?token=${router.token}`);
    expect(answer.status).toBe(303);
    expect(answer.headers.location).toBe('/ui/');
    expect(answer.headers['referrer-policy']).toBe('no-referrer');
    const line = String(answer.headers['set-cookie']);
    expect(line).toMatch(/HttpOnly/);
    expect(line).toMatch(/SameSite=Strict/);
    expect(line).not.toContain(router.token);
    const cookie = cookieOf(answer.headers['set-cookie']);
    const page = await http(`${router.url}/ui/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('/ui/app.js');
    const data = await http(`${router.url}/ui/data`, { headers: { cookie } });
    expect(data.status).toBe(200);
    expect(Object.keys(data.json().status.services).sort()).toEqual(['chat', 'lobby']);
    // A cookie made from another secret is refused.
    expect((await http(`${router.url}/ui/data`, { headers: { cookie: 'switchyard_ui=AAAA' } })).status).toBe(401);
    // The secret itself is never a credential on later requests: only at sign-in.
    expect((await http(`${router.url}/ui/data`, { headers: { authorization: `Bearer ${router.token}` } })).status).toBe(401);
  });

  it('serves uPlot from the package and refuses writes', async () => {
    const lib = await http(`${router.url}/ui/uplot.js`);
    expect(lib.status).toBe(200);
    expect(lib.text).toContain('uPlot');
    expect((await http(`${router.url}/ui/nope.js`)).status).toBe(404);
    expect((await http(`${router.url}/ui/`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await http(`${router.url}/ui`)).headers.location).toBe('/ui/');
  });
});

describe.skipIf(!hasChromium)('web view in headless Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    profile = await mkdtemp(join(tmpdir(), 'sy-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      timeout: 60_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await context?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  const terminalsCell = (service: string, version: string) => page.locator(`[data-service="${service}"] tr[data-version="${version}"] td.terminals`);

  it('signs in with ?token=, lands on the clean URL with an HttpOnly cookie, and shows versions, states and terminals', async () => {
    await page.goto(`${router.url}/ui/?token=${router.token}`);
    expect(page.url()).toBe(`${router.url}/ui/`);
    const cookies = await context.cookies(`${router.url}/ui/`);
    const cookie = cookies.find((c) => c.name === 'switchyard_ui');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(router.token);

    await expect.poll(() => terminalsCell('lobby', '1.5.0').getAttribute('data-terminals'), { timeout: 20_000 }).toBe('12');
    expect(await terminalsCell('lobby', '1.4.0').getAttribute('data-terminals')).toBe('3');
    expect(await terminalsCell('chat', '2.0.0').getAttribute('data-terminals')).toBe('4');
    expect(await page.locator('[data-service="lobby"] tr[data-version="1.4.0"] [data-state]').allTextContents()).toEqual(['draining']);
    expect(await page.locator('[data-service="lobby"] tr[data-version="1.5.0"] [data-state]').allTextContents()).toEqual(['active']);
    expect(await page.locator('[data-service="lobby"] [data-target]').getAttribute('data-target')).toBe('1.5.0');
    expect(await page.locator('[data-service="lobby"] tr[data-version="1.5.0"] li[data-process]').count()).toBe(2);
    await expect.poll(() => page.locator('[data-service="lobby"] .chart canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#history li[data-generation="1"]').count()).toBe(1);
  });

  it('shows a changed heartbeat and a new policy revision live, without a reload', async () => {
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    terminals.set('lobby@1.4.0#0', { '1.4.0': 0 });
    terminals.set('lobby@1.5.0#0', { '1.5.0': 9 });
    await expect.poll(() => terminalsCell('lobby', '1.5.0').getAttribute('data-terminals'), { timeout: 20_000 }).toBe('14');
    await expect.poll(() => terminalsCell('lobby', '1.4.0').getAttribute('data-terminals'), { timeout: 20_000 }).toBe('0');

    await writeRevision(2, { version: '1.4.0', weight: 10 });
    await router.writePolicy(buildPolicy(SERVICES({ version: '1.4.0', weight: 10 }), 2));
    await expect.poll(() => page.locator('[data-service="lobby"] .head').textContent(), { timeout: 20_000 }).toContain('canary 1.4.0 at 10%');
    await expect.poll(() => page.locator('#history li[data-generation="2"]').textContent(), { timeout: 20_000 }).toContain('canary');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    if (process.env.SWITCHYARD_UI_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.SWITCHYARD_UI_SCREENSHOT, fullPage: true });
  });

  it('shows a rollout live: its state, step and plan, the recent verdicts, and a small chart per figure', async () => {
    const verdict = (at: string, kind: string, requests: number, errors: number) => ({ at, verdict: kind, reason: `it was ${kind}.`, requests, errors, p99Ms: 12 + errors, restarts: 0 });
    const rollout = (over: Record<string, unknown>) => ({
      id: 'r1', version: '1.4.0', from: '1.5.0', steps: [{ canary: 10, pauseMs: 120_000 }, { canary: 50, pauseMs: 300_000 }, { canary: 100, pauseMs: 0 }],
      step: 1, stepSince: new Date().toISOString(), state: 'progressing', seq: 5, fails: 0, inconclusives: 0, reason: null,
      recent: [verdict('2026-12-05T10:00:00.000Z', 'pass', 120, 0), verdict('2026-12-05T10:00:10.000Z', 'fail', 110, 9), verdict('2026-12-05T10:00:20.000Z', 'pass', 130, 1)],
      startedAt: '2026-12-05T09:58:00.000Z', by: { kind: 'user', user: 'ann', host: 'laptop' }, ...over,
    });
    const withRollout = (generation: number, over: Record<string, unknown>, canary: ServiceSpec['canary']) => {
      const policy = buildPolicy(SERVICES(canary), generation) as any;
      policy.services.lobby.rollout = rollout(over);
      return policy;
    };
    const panel = page.locator('[data-service="lobby"] .rollout');
    await router.writePolicy(withRollout(3, {}, { version: '1.4.0', weight: 50 }));
    await expect.poll(() => panel.locator('[data-rollout-state]').textContent(), { timeout: 20_000 }).toBe('progressing');
    expect(await panel.locator('[data-rollout-step]').textContent()).toMatch(/1\.4\.0 from 1\.5\.0: step 2 of 3, canary 50%, held [45] min/);
    expect(await panel.locator('.step').count()).toBe(3);
    expect(await panel.locator('.step.now').getAttribute('data-step')).toBe('2');
    expect(await panel.locator('[data-verdict]').evaluateAll((els) => els.map((e) => e.getAttribute('data-verdict')))).toEqual(['pass', 'fail', 'pass']);
    await expect.poll(() => panel.locator('.figure-chart canvas').count()).toBe(4);
    expect(await panel.locator('[data-figure]').evaluateAll((els) => els.map((e) => e.getAttribute('data-figure')))).toEqual(['requests', 'errorRate', 'p99', 'restarts']);

    await router.writePolicy(withRollout(4, { state: 'aborted', seq: 6, reason: '2 failed intervals reached failureLimit (2)' }, null));
    await expect.poll(() => panel.locator('[data-rollout-state]').textContent(), { timeout: 20_000 }).toBe('aborted');
    expect(await panel.locator('.reason').textContent()).toBe('2 failed intervals reached failureLimit (2)');
    expect(await panel.locator('.step.stopped').getAttribute('data-step')).toBe('2');
    if (process.env.SWITCHYARD_UI_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.SWITCHYARD_UI_SCREENSHOT.replace(/(\.png)?$/, '-rollout.png'), fullPage: true });
  });

  it('asks for the token when signed out, and signs in through the form', async () => {
    await context.clearCookies();
    await page.goto(`${router.url}/ui/`);
    await page.fill('#token', router.token);
    await Promise.all([page.waitForURL(`${router.url}/ui/`), page.click('button[type="submit"]')]);
    await expect.poll(() => terminalsCell('chat', '2.0.0').getAttribute('data-terminals'), { timeout: 20_000 }).toBe('4');
  });
});
