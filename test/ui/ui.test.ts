// Browser tests of the web UI: Debian's chromium driven by playwright-core against `exemplar serve`
// (in-process, on the embedded database). Screenshots go to test-results/ui/.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RequestLog, type RunningServer } from '../../src/http/server.ts';
import { ACTOR, openTestApp, TEST_DB, type TestEnv } from '../support/app.ts';

const CHROMIUM = process.env.EXEMPLAR_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '../..');
const SHOTS = path.join(ROOT, 'test-results/ui');
const hasChromium = fs.existsSync(CHROMIUM);
if (TEST_DB === 'pglite' && !hasChromium) {
  console.warn(`test/ui: skipped, no chromium at ${CHROMIUM} (apt-get install -y chromium, as .ci/run does)`);
}

let t: TestEnv;
let server: RunningServer;
let admin: string;
let context: BrowserContext;
let page: Page;
let profile: string;
const logs: RequestLog[] = [];

const shot = (name: string, p = page) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

describe.runIf(TEST_DB === 'pglite' && hasChromium)('the web UI in a browser', () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, 'ui/dist/index.html'))) execSync('npm run build:ui', { cwd: ROOT, stdio: 'inherit' });
    fs.mkdirSync(SHOTS, { recursive: true });
    t = await openTestApp();
    admin = (await t.app.apiKeys.create({ scopes: ['admin'] }, ACTOR)).key;
    server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0, log: (e) => logs.push(e) });
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(15_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (d) => void d.accept());
  });
  afterAll(async () => {
    await context?.close();
    await server?.close();
    await t?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  it('serves the built UI with content types, caching and an SPA fallback, next to the API', async () => {
    const index = await fetch(`${server.url}/agents/anything/prompts`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeTruthy();
    const js = await fetch(`${server.url}${asset}`);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('cache-control')).toContain('immutable');
    // Compressed for clients that take it (brotli first), byte for byte the same once decoded.
    const plain = await fetch(`${server.url}${asset}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    for (const [accept, encoding] of [['br, gzip', 'br'], ['gzip', 'gzip']]) {
      const packed = await fetch(`${server.url}${asset}`, { headers: { 'accept-encoding': accept } });
      expect(packed.headers.get('content-encoding')).toBe(encoding);
      expect(packed.headers.get('vary')).toContain('accept-encoding');
      expect(await packed.text()).toBe(await (await fetch(`${server.url}${asset}`, { headers: { 'accept-encoding': 'identity' } })).text());
    }
    expect((await fetch(`${server.url}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/nope`)).status).toBe(401);
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${server.url}/openapi.json`)).headers.get('content-type')).toContain('application/json');
  });

  it('asks for a key, rejects a wrong one, and takes one from the URL fragment', async () => {
    await page.goto(server.url);
    await page.getByLabel('API key').fill('ex_wrong');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').waitFor();
    await shot('01-key-screen');
    await page.goto(`${server.url}/#key=${encodeURIComponent(admin)}`);
    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    expect(new URL(page.url()).hash).toBe('');
    await page.getByText('No agents yet').waitFor();
  });

  it('creates an agent, imports examples, filters, edits and pages through them', async () => {
    await page.getByLabel('Name').fill('ui-agent');
    await page.getByLabel('Description').fill('Answers Python questions');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('heading', { name: 'ui-agent' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/agents/ui-agent');
    await page.getByText('No examples yet').waitFor();

    const lines = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        prompt: `How do I ${['sort a list', 'read a csv file', 'reverse a string'][i % 3]} in python, case ${i}?`,
        completion: i % 5 === 0 ? 'I do not know.' : `Use the standard library (answer ${i}).`,
        reward_score: i % 5 === 0 ? 0.1 : 0.9,
        example_type: i % 5 === 0 ? 'negative' : 'positive',
      }),
    );
    await page.getByLabel('JSONL or CSV file').setInputFiles({ name: 'examples.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') });
    await page.getByRole('button', { name: 'Import' }).click();
    await expect.poll(() => page.locator('form .ok').first().textContent(), { timeout: 20_000 }).toMatch(/^Imported 30 examples from \d+ lines \(0 duplicates skipped\)/);
    expect(await page.locator('progress').getAttribute('value')).toBe('1');
    await page.locator('li.example').first().waitFor();
    expect(await page.locator('li.example').count()).toBe(20);
    await shot('02-examples');

    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('page 2').waitFor();
    await expect.poll(() => page.locator('li.example').count()).toBe(10);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText('page 1').waitFor();

    const filters = page.getByRole('form', { name: 'Filter examples' });
    await filters.getByLabel('Type').selectOption('negative');
    await filters.getByLabel('Sort').selectOption('best');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.locator('li.example').count()).toBe(6);
    await page.getByText('Best reward first · page 1').waitFor();
    const rewards = await page.locator('li.example').evaluateAll((rows) =>
      rows.map((r) => Number((r.querySelector('input[aria-label^="Reward of example"]') as HTMLInputElement).value)),
    );
    expect(rewards).toEqual([...rewards].sort((a, b) => b - a));

    // Edit the first negative example's reward, then delete it.
    const first = page.locator('li.example').first();
    await first.getByLabel(/^Reward of example/).fill('0.3');
    await first.getByRole('button', { name: 'Save' }).click();
    await expect.poll(async () => (await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples WHERE reward_score = 0.3')).rows[0].n).toBe(1);
    await page.locator('li.example').first().getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.locator('li.example').count()).toBe(5);
    expect((await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples')).rows[0].n).toBe(29);

    await page.getByLabel('Text').fill('no-such-text');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No examples match these filters.').waitFor();
  });

  it('searches with α/β sliders and shows the score bars', async () => {
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Query').fill('read a csv file in python');
    await page.locator('input[name=alpha]').fill('0.8');
    await page.locator('input[name=beta]').fill('0.2');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('li.result').first().waitFor();
    expect(await page.locator('li.result').count()).toBe(10);
    expect(await page.locator('li.result').first().getByRole('meter').count()).toBe(3);
    await expect.poll(() => page.locator('li.result .prompt').first().textContent()).toContain('read a csv file');
    await page.getByText('α 0.8, β 0.2').waitFor();
    await shot('03-search');
  });

  it('records a relevance judgment per result with one click, and measures and tunes the search on them', async () => {
    const first = page.locator('li.result').first();
    await first.getByRole('button', { name: 'Relevant', exact: true }).click();
    await expect.poll(async () => (await t.app.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM relevance_judgments WHERE query = 'read a csv file in python' AND grade = 1`)).rows[0].n).toBe(1);
    await expect.poll(() => first.getByRole('button', { name: 'Relevant', exact: true }).getAttribute('aria-pressed')).toBe('true');
    await page.locator('li.result').nth(1).getByRole('button', { name: 'Not relevant' }).click();
    await expect.poll(async () => (await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM relevance_judgments WHERE grade = 0')).rows[0].n).toBe(1);
    // A new search for the same query shows the judgments made.
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('li.result').first().getByRole('button', { name: 'Relevant', exact: true }).getAttribute('aria-pressed')).toBe('true');
    await page.getByRole('button', { name: 'Measure on my judgments' }).click();
    await page.getByText(/1 judged query\. Now \(α/).waitFor();
    await shot('03b-judgments');
  });

  it('writes a prompt, optimizes with the heuristic, diffs, promotes and rolls back', async () => {
    await page.getByRole('link', { name: 'Prompt versions' }).click();
    await page.getByText('No prompt versions yet').waitFor();
    await page.getByText('Write a new version').click();
    await page.getByLabel('System prompt').fill('You answer Python questions. Be brief.');
    await page.getByRole('button', { name: 'Save version' }).click();
    await page.getByText('Production: v1').waitFor();

    expect(await page.getByLabel('Optimizer').inputValue()).toBe('heuristic');
    await page.getByRole('button', { name: 'Optimize prompt' }).click();
    await page.getByText('saved version 2 as candidate').waitFor();
    await page.getByText('Candidate: v2').waitFor();
    await page.locator('[data-testid=diff-to] ins').first().waitFor();
    await shot('04-prompt-optimized');

    await page.getByRole('button', { name: 'Promote candidate' }).click();
    await page.getByText('Version 2 is now production.').waitFor();
    await page.getByRole('button', { name: 'Roll back production' }).click();
    await page.getByText('production is now version 3 (the content of version 1)').waitFor();
    await page.getByText('Production: v3').waitFor();
    const prompt = await t.app.prompts.get('ui-agent', { label: 'production' });
    expect(prompt).toMatchObject({ version: 3, content: 'You answer Python questions. Be brief.' });
    await shot('05-prompt-rolled-back');
  });

  it('shows the index status and rebuilds it, and the datasets and runs tab', async () => {
    await page.getByRole('link', { name: 'Index' }).click();
    await page.getByText('Stored examples').waitFor();
    await page.getByRole('button', { name: 'Rebuild index' }).click();
    await expect.poll(() => page.locator('.ok').first().textContent(), { timeout: 20_000 }).toMatch(/^Rebuilt: \d+ examples indexed in \d+ ms/);
    await shot('06-index');
    await page.getByRole('link', { name: 'Datasets & runs' }).click();
    await page.getByText(/No fine-tuning runs yet|Fine-tuning runs are not available/).waitFor();
    await shot('07-runs');
  });

  it('fits a phone-width screen without horizontal scrolling', async () => {
    // The same tab: the key is in its sessionStorage.
    const phone = page;
    await phone.setViewportSize({ width: 375, height: 812 });
    for (const tab of ['', '/search', '/prompts']) {
      await phone.goto(`${server.url}/agents/ui-agent${tab}`);
      await phone.getByRole('heading', { name: 'ui-agent' }).waitFor();
      await phone.locator('.tab-body').waitFor();
      await phone.waitForLoadState('networkidle');
      const { scroll, client } = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(scroll, `horizontal scroll on ${tab || '/'}`).toBeLessThanOrEqual(client);
      await shot(`08-phone${tab.replace('/', '-') || '-examples'}`, phone);
    }
    await phone.setViewportSize({ width: 1280, height: 900 });
  });

  it('never sent the key anywhere but the Authorization header', () => {
    expect(logs.length).toBeGreaterThan(10);
    expect(JSON.stringify(logs)).not.toContain(admin);
    expect(logs.some((l) => l.path.includes('key='))).toBe(false);
  });
});
