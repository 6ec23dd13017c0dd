// Browser tests of the web UI: Debian's chromium driven by playwright-core against `exemplar serve`
// (in-process, on the embedded database). Screenshots go to test-results/ui/.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RequestLog, type RunningServer } from '../../src/http/server.ts';
import { loadLlmConfig } from '../../src/llm/provider.ts';
import { ACTOR, openTestApp, TEST_DB, type TestEnv } from '../support/app.ts';
import { OPENAI_TEST_KEY, startLocalOpenAIChat, type LocalLlmServer } from '../llm/llm-servers.ts';

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
/** A local server that speaks the Chat Completions wire format: the model that evaluation runs ask. */
let chat: LocalLlmServer;
const logs: RequestLog[] = [];

const shot = (name: string, p = page) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

describe.runIf(TEST_DB === 'pglite' && hasChromium)('the web UI in a browser', () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, 'ui/dist/index.html'))) execSync('npm run build:ui', { cwd: ROOT, stdio: 'inherit' });
    fs.mkdirSync(SHOTS, { recursive: true });
    chat = await startLocalOpenAIChat();
    t = await openTestApp({ llm: { ...loadLlmConfig({ OPENAI_BASE_URL: chat.baseURL, OPENAI_API_KEY: OPENAI_TEST_KEY }), maxRetries: 1, retryBaseDelayMs: 2, retryMaxDelayMs: 10 } });
    admin = (await t.app.apiKeys.create({ scopes: ['admin'], name: 'ui-admin' }, ACTOR)).key;
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
    await chat?.close();
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

  const count = async (sql: string) => (await t.app.db.query<{ n: number }>(sql)).rows[0].n;
  const rows = () => page.locator('table.data-grid tbody tr');

  it('creates an agent, imports examples into the grid, pages with a total count and sorts by column', async () => {
    await page.getByLabel('Name').fill('ui-agent');
    await page.getByLabel('Description').fill('Answers Python questions');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('heading', { name: 'ui-agent' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/agents/ui-agent');
    await page.getByText('No examples yet').waitFor();

    const lines = Array.from({ length: 60 }, (_, i) =>
      JSON.stringify({
        prompt: `How do I ${['sort a list', 'read a csv file', 'reverse a string'][i % 3]} in python, case ${i}?`,
        completion: i % 5 === 0 ? 'I do not know.' : `Use the standard library (answer ${i}).`,
        reward_score: i % 5 === 0 ? 0.1 : 0.9,
        example_type: i % 5 === 0 ? 'negative' : 'positive',
        metadata: i % 2 === 0 ? { source: 'prod', ticket: i } : { source: 'staging' },
      }),
    );
    await page.getByText('Import a file').click();
    await page.getByLabel('JSONL or CSV file').setInputFiles({ name: 'examples.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expect.poll(() => page.locator('form .ok').first().textContent(), { timeout: 20_000 }).toMatch(/^Imported 60 examples from \d+ lines \(0 duplicates skipped\)/);
    expect(await page.locator('progress').getAttribute('value')).toBe('1');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('60');
    await expect.poll(() => rows().count()).toBe(50);
    await shot('02-examples-grid');

    // "Next" goes to the top of the page.
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight));
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('page 2').waitFor();
    await expect.poll(() => rows().count()).toBe(10);
    expect(await page.evaluate(() => scrollY)).toBe(0);
    await page.getByText(/showing 51–60/).waitFor();
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText('page 1').waitFor();

    // Sorting by a column header asks the server for that order.
    await page.getByRole('button', { name: /^Reward/ }).click();
    await page.getByText('best reward first').waitFor();
    const rewards = await page.locator('input[aria-label^="Reward of example"]').evaluateAll((els) => els.map((e) => Number((e as HTMLInputElement).value)));
    expect(rewards[0]).toBe(0.9);
    expect(rewards).toEqual([...rewards].sort((a, b) => b - a));
    await page.getByRole('button', { name: /^Reward/ }).click();
    await page.getByText('worst reward first').waitFor();
    await expect.poll(() => page.locator('input[aria-label^="Reward of example"]').first().inputValue()).toBe('0.1');
    await page.getByRole('button', { name: /^Created/ }).click();
    await page.getByText('newest first').waitFor();
  });

  it('filters as you type, by any reward and by metadata, and says why min above max matches nothing', async () => {
    const filters = page.getByRole('form', { name: 'Filter examples' });
    await filters.getByLabel('Type').selectOption('negative');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('12');
    await filters.getByLabel('Min reward').fill('0.82');
    await page.getByText('No examples match these filters.').waitFor();
    await filters.getByLabel('Type').selectOption('');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('48');
    await filters.getByLabel('Max reward').fill('0.2');
    await page.getByRole('alert').filter({ hasText: 'Min reward 0.82 is above max reward 0.2' }).waitFor();
    await shot('02b-filter-min-above-max');
    await filters.getByLabel('Min reward').fill('');
    await filters.getByLabel('Max reward').fill('');
    await filters.getByLabel('Metadata').fill('source=prod');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('30');
    await filters.getByLabel('Metadata').fill('ticket');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('30');
    await filters.getByLabel('Metadata').fill('source=staging, ticket');
    await page.getByText('No examples match these filters.').waitFor();
    await filters.getByLabel('Metadata').fill('');
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('60');
  });

  it('edits a reward of 0.33 in the grid', async () => {
    const first = rows().first();
    const id = await first.getAttribute('data-id');
    await first.getByLabel(/^Reward of example/).fill('0.33');
    await first.getByLabel(/^Reward of example/).press('Enter');
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id = '${id}' AND reward_score = 0.33`)).toBe(1);
  });

  it('moves, selects and opens rows with the keyboard, and relabels, re-rates and deletes in bulk', async () => {
    // The last test's save makes the grid reload its page, which can land between two key presses
    // and take the focus: start from a freshly loaded grid.
    await page.reload();
    await rows().first().waitFor();
    await page.waitForLoadState('networkidle');
    await rows().first().focus();
    await page.keyboard.press('x');
    await page.keyboard.press('j');
    await page.keyboard.press(' ');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('x');
    await page.getByText('3 selected').waitFor();
    const selected = page.locator('table.data-grid tbody tr[aria-selected=true]');
    await expect.poll(() => selected.count()).toBe(3);
    const ids = await selected.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')));
    expect(ids).toHaveLength(3);
    const list = ids.map((i) => `'${i}'`).join(',');
    const bulk = page.getByRole('region', { name: 'Bulk actions' });
    await shot('02c-bulk-selection');
    await bulk.getByRole('button', { name: 'Mark negative' }).click();
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id IN (${list}) AND example_type = 'negative'`)).toBe(3);
    // The bulk change reloads the page and clears the selection; select the same three again.
    await expect.poll(() => page.getByText('3 selected').count()).toBe(0);
    for (const id of ids) await page.locator(`tr[data-id="${id}"]`).getByRole('checkbox').check();
    await bulk.getByLabel('Reward for all').fill('0.33');
    await bulk.getByRole('button', { name: 'Set reward' }).click();
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id IN (${list}) AND reward_score = 0.33`)).toBe(3);
    const rated = await count(`SELECT count(*)::int AS n FROM example_reward_history WHERE example_id = '${ids[1]}'`);
    expect(rated).toBeGreaterThanOrEqual(1);

    // Enter opens the focused row in the side panel; Escape closes it.
    await page.waitForLoadState('networkidle');
    await rows().nth(1).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: `Example ${ids[1]!.slice(0, 8)}` }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('panel-title');
    await page.getByRole('heading', { name: 'Reward history' }).waitFor();
    await expect.poll(() => page.locator('.panel .history li').count()).toBe(rated);
    await expect.poll(() => page.locator('.panel .history li').last().textContent()).toMatch(/→ 0\.33/);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('.panel').count()).toBe(0);

    for (const id of ids) await page.locator(`tr[data-id="${id}"]`).getByRole('checkbox').check();
    await bulk.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id IN (${list})`)).toBe(0);
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('57');
  });

  it('adds an example in the side panel, renders its Markdown safely, and edits its text, type and metadata', async () => {
    await page.getByRole('button', { name: 'Add example' }).click();
    await page.getByRole('heading', { name: 'New example' }).waitFor();
    const panel = page.locator('.panel');
    const prompt = 'How do I **sort** a dict by value? <img src=x onerror="window.pwned=1"> [x](javascript:window.pwned=2)';
    await panel.getByLabel('Prompt', { exact: true }).fill(prompt);
    await panel.getByLabel('Completion', { exact: true }).fill('Use `sorted`:\n\n```python\nsorted(d.items(), key=lambda kv: kv[1])\n```\n<script>window.pwned=3</script>');
    await panel.getByLabel('Reward').fill('0.33');
    await panel.getByLabel('Metadata (JSON object)').fill('{"source": "ui-test"}');
    await panel.getByRole('button', { name: 'Add example' }).click();
    await panel.getByRole('heading', { name: /^Example [0-9a-f]{8}$/ }).waitFor();
    expect(await count(`SELECT count(*)::int AS n FROM training_examples WHERE reward_score = 0.33 AND metadata->>'source' = 'ui-test'`)).toBe(1);
    await panel.getByText('from ui').waitFor();
    await panel.locator('.markdown strong', { hasText: 'sort' }).waitFor();
    await panel.locator('.markdown pre code', { hasText: 'sorted(d.items()' }).waitFor();
    expect(await panel.locator('.markdown script, .markdown [onerror]').count()).toBe(0);
    expect(await panel.locator('.markdown a[href^="javascript"]').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await shot('02d-side-panel');

    await panel.getByRole('button', { name: 'Edit' }).click();
    await panel.getByLabel('Prompt', { exact: true }).fill('How do I sort a dict by its values?');
    await panel.getByLabel('Completion', { exact: true }).fill('Use sorted(d.items(), key=lambda kv: kv[1]).');
    await panel.getByLabel('Type').selectOption('negative');
    await panel.getByLabel('Metadata (JSON object)').fill('{"source": "ui-test", "reviewed": true}');
    await panel.getByRole('button', { name: 'Save changes' }).click();
    await panel.getByRole('button', { name: 'Edit' }).waitFor();
    await expect
      .poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE prompt = 'How do I sort a dict by its values?' AND example_type = 'negative' AND metadata->>'reviewed' = 'true'`))
      .toBe(1);
    await panel.getByText('Not rated since').or(panel.locator('.history li')).first().waitFor();
    await panel.getByRole('button', { name: 'Close the example panel' }).click();
    await expect.poll(() => page.getByTestId('total').textContent()).toBe('58');
  });

  it('reviews a queue of unrated examples with the keyboard only, recording each rating under the key name', async () => {
    await page.getByRole('link', { name: 'Review' }).click();
    const progress = page.getByTestId('review-progress');
    await expect.poll(() => progress.textContent()).toMatch(/^1 of \d+/);
    const queued = Number(/of (\d+)/.exec((await progress.textContent())!)![1]);
    expect(queued).toBe(await count(`SELECT count(*)::int AS n FROM training_examples t WHERE NOT EXISTS (SELECT 1 FROM example_reward_history h WHERE h.example_id = t.id)`));
    const card = page.getByLabel('Example under review');
    const first = await card.getAttribute('data-id');
    await page.keyboard.press('4');
    await expect.poll(() => progress.textContent()).toMatch(/^2 of/);
    const second = await card.getAttribute('data-id');
    await page.keyboard.press('n');
    await expect.poll(() => page.getByTestId('review-type').textContent()).toBe('negative');
    await page.keyboard.press('2');
    await expect.poll(() => progress.textContent()).toMatch(/^3 of .* 3 rated/);
    await page.keyboard.press('k');
    await expect.poll(() => card.getAttribute('data-id')).toBe(second);
    expect(await page.getByTestId('review-reward').textContent()).toBe('0.25');
    await shot('02e-review');
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id = '${first}' AND reward_score = 0.75`)).toBe(1);
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id = '${second}' AND reward_score = 0.25 AND example_type = 'negative'`)).toBe(1);

    // e edits the example in the side panel; its history names the key, not its id.
    await page.keyboard.press('e');
    const panel = page.locator('.panel');
    await panel.getByLabel('Completion', { exact: true }).fill('A better answer, edited during review.');
    await panel.getByRole('button', { name: 'Save changes' }).click();
    await panel.locator('.history li').first().waitFor();
    expect(await panel.locator('.history').textContent()).toContain('ui-admin');
    expect(await panel.locator('.history').textContent()).not.toMatch(/key:[0-9a-f]{8}-/);
    await page.keyboard.press('Escape');
    await expect.poll(() => panel.count()).toBe(0);
    await expect.poll(() => count(`SELECT count(*)::int AS n FROM training_examples WHERE id = '${second}' AND completion = 'A better answer, edited during review.'`)).toBe(1);

    // Ten ratings in a row, keys only: the UI's own throughput.
    await page.keyboard.press('j');
    const started = Date.now();
    for (let i = 0; i < 10; i++) await page.keyboard.press(String((i % 5) + 1));
    await expect.poll(() => progress.textContent()).toMatch(/ 13 rated/);
    console.log(`review: 10 keyboard ratings in ${Date.now() - started} ms`);
    await expect.poll(() => count(`SELECT count(DISTINCT example_id)::int AS n FROM example_reward_history WHERE actor LIKE 'key:%'`), { timeout: 20_000 }).toBeGreaterThanOrEqual(12);
  });

  it('charts quality over time from agent_stats', async () => {
    await page.getByRole('link', { name: 'Quality' }).click();
    // Recharts draws into layers that CSS locators do not reach here: count the drawn parts in the markup.
    const drawn = (title: string, part: string) =>
      page.evaluate(([t, p]) => (document.querySelector(`figure[aria-label="${t}"]`)?.innerHTML.split(`class="${p}`).length ?? 1) - 1, [title, part]);
    for (const title of ['Reward histogram', 'Examples added by week and type', 'Mean and median reward by week', 'Examples added by week and source']) {
      await expect.poll(() => drawn(title, 'recharts-cartesian-grid"'), { timeout: 20_000 }).toBe(1);
    }
    await expect.poll(() => drawn('Reward histogram', 'recharts-rectangle'), { timeout: 10_000 }).toBeGreaterThan(1);
    await expect.poll(() => drawn('Mean and median reward by week', 'recharts-curve recharts-line-curve'), { timeout: 10_000 }).toBe(2);
    await page.getByRole('figure', { name: 'Examples added by week and source' }).getByText('import').first().waitFor();
    await page.getByTestId('never-used').waitFor();
    await shot('02f-quality');
    await page.getByRole('link', { name: 'Examples' }).click();
    await page.getByRole('button', { name: 'Import a file' }).or(page.getByText('Import a file')).first().click();
  });

  it('says what to do about an invalid file in the UI\'s words', async () => {
    await page.getByLabel('JSONL or CSV file').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"prompt": "x"}\n') });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const alert = page.locator('form[aria-labelledby=import-title] [role=alert]');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('tick "Skip invalid lines"');
    expect(await alert.textContent()).not.toContain('--skip-invalid');
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
    // Moving a slider re-runs the search after a short pause, with no click.
    await page.locator('input[name=alpha]').fill('0.3');
    await page.getByText('α 0.3, β 0.2').waitFor();
    await page.locator('input[name=alpha]').fill('0.8');
    await page.getByText('α 0.8, β 0.2').waitFor();
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
    // A new version is a draft (candidate) unless production is chosen.
    expect(await page.getByLabel('Label').inputValue()).toBe('candidate');
    await page.getByLabel('System prompt').fill('You answer Python questions. Be brief.');
    await page.getByLabel('Label').selectOption('production');
    await page.getByRole('button', { name: 'Save version' }).click();
    await page.getByText('Production: v1').waitFor();
    expect(await page.locator('.versions li').first().textContent()).not.toMatch(/key:[0-9a-f]{8}-/);

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
    // Focus went to the page's heading after the navigation.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');

    // Every option of the API: format, type, reward range, split, query, redaction.
    const form = page.getByRole('form', { name: 'Build a dataset' });
    await form.getByRole('combobox', { name: /^Format/ }).selectOption('openai-dpo');
    await form.getByRole('button', { name: 'Build dataset' }).click();
    await form.getByTestId('dpo-help').waitFor();
    expect(await form.getByTestId('dpo-help').textContent()).toContain('same prompt');
    await shot('07a-dpo-no-pairs');
    await form.getByRole('combobox', { name: /^Format/ }).selectOption('openai-sft');
    await form.getByLabel(/^Validation share/).fill('0.2');
    await form.getByLabel(/^Query/).fill('read a csv file');
    await form.getByRole('checkbox', { name: /Redact/ }).check();
    await form.getByRole('button', { name: 'Build dataset' }).click();
    await form.getByText(/^openai-sft: \d+ train/).waitFor();
    await form.getByLabel('Min reward').fill('0.9');
    await form.getByLabel('Max reward').fill('0.2');
    await form.getByRole('button', { name: 'Build dataset' }).click();
    await form.getByRole('alert').filter({ hasText: 'Min reward 0.9 is above max reward 0.2' }).waitFor();
    expect(await form.getByText(/^openai-sft: \d+ train/).count()).toBe(0);

    // A run can be cancelled from the UI.
    await page.getByText('Start a run').click();
    await page.getByLabel('Base model').fill('my-base-model');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await expect.poll(async () => (await t.app.db.query<{ status: string }>('SELECT status FROM fine_tuning_runs')).rows.map((r) => r.status)).toEqual(['cancelled']);
    await page.locator('.tag.status-cancelled').waitFor();
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    await shot('07-runs');
  });

  it('stays signed in on this browser only when asked, and says what that means', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').fill(admin);
    await page.getByLabel('Stay signed in on this browser').check();
    await page.getByText(/saved in this browser \(localStorage\) until you sign out/).waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    const other = await context.newPage();
    await other.goto(`${server.url}/agents/ui-agent`);
    await other.getByRole('heading', { name: 'ui-agent' }).waitFor();
    await other.close();
    // Signing out forgets it everywhere.
    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    const third = await context.newPage();
    await third.goto(server.url);
    await third.getByLabel('API key').waitFor();
    await third.close();
    await page.getByLabel('API key').fill(admin);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
  });

  it('lists, creates (shown once, with a copy button) and revokes API keys, for admin keys', async () => {
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    await page.getByRole('table', { name: 'API keys' }).getByText('ui-admin').waitFor();
    const form = page.getByRole('form', { name: 'Create a key' });
    await form.getByLabel('Name').fill('ci-bot');
    await form.getByLabel('Scopes').fill('read:ui-agent');
    await form.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByLabel('The new key');
    await shown.waitFor();
    const created = await shown.inputValue();
    expect(created).toMatch(/^ex/);
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    await shot('09-keys-created');
    expect((await fetch(`${server.url}/v1/agents/ui-agent`, { headers: { authorization: `Bearer ${created}` } })).status).toBe(200);
    await page.getByRole('button', { name: 'I have stored it: hide the key' }).click();
    expect(await page.getByLabel('The new key').count()).toBe(0);
    await page.getByRole('button', { name: 'Revoke ci-bot' }).click();
    await page.getByRole('table', { name: 'API keys' }).getByText(/^revoked/).waitFor();
    expect((await fetch(`${server.url}/v1/agents/ui-agent`, { headers: { authorization: `Bearer ${created}` } })).status).toBe(401);
    // A key that is not admin sees no Keys link, and the API refuses it the list.
    const reader = (await t.app.apiKeys.create({ scopes: ['read:ui-agent'], name: 'reader' }, ACTOR)).key;
    expect((await fetch(`${server.url}/v1/keys`, { headers: { authorization: `Bearer ${reader}` } })).status).toBe(403);
  });

  it('creates an eval set, estimates and runs an evaluation against a local model, lists the scores, shows two runs side by side filtered to losses, and the latest score per prompt version', async () => {
    // Nine questions, each with a good (positive) and a bad (negative) answer; v1 in production, v2 the candidate.
    const good = (i: number) => `To do task ${i}, open the settings, choose option ${i} and press save.`;
    const bad = (i: number) => `No idea about task ${i}, try searching the web for it.`;
    const rows = Array.from({ length: 9 }, (_, k) => k + 1).flatMap((i) => [
      { prompt: `How do I do task ${i}?`, completion: good(i), rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} },
      { prompt: `How do I do task ${i}?`, completion: bad(i), rewardScore: 0.1, exampleType: 'negative' as const, metadata: {} },
    ]);
    await t.app.agents.create({ name: 'eval-agent', description: 'Answers settings questions' }, ACTOR);
    await t.app.examples.addMany('eval-agent', rows, ACTOR);
    await t.app.prompts.create('eval-agent', { content: 'v1: you are terse.', source: 'manual', label: 'production' }, ACTOR);
    await t.app.prompts.create('eval-agent', { content: 'v2: you are helpful.', source: 'manual', label: 'candidate' }, ACTOR);
    // The scripted model: on tasks 3, 6, 9 v2 answers badly and v1 well (v2 loses); on 1, 4, 7 the
    // reverse (v2 wins); on 2, 5, 8 both answer well (ties). No judge: the similarity scorer decides.
    chat.reply = ({ system, prompt }) => {
      const i = Number(/task (\d+)/.exec(prompt)?.[1]);
      const v2 = system?.startsWith('v2') ?? false;
      return (v2 ? i % 3 === 0 : i % 3 === 1) ? bad(i) : good(i);
    };

    await page.goto(`${server.url}/agents/eval-agent#key=${encodeURIComponent(admin)}`);
    await page.getByRole('heading', { name: 'eval-agent' }).waitFor();
    await page.getByRole('link', { name: 'Evaluations' }).click();
    await page.getByText('No eval set yet').waitFor();
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');

    const setForm = page.getByRole('form', { name: 'Create eval set' });
    await setForm.getByLabel('Size').fill('9');
    await setForm.getByLabel('Seed').fill('1');
    await setForm.getByRole('button', { name: 'Create eval set' }).click();
    await page.getByTestId('evalset-created').filter({ hasText: 'Created eval set version 1: 9 items, 9 contrasts.' }).waitFor();
    await expect.poll(() => page.getByTestId('evalset').textContent(), { timeout: 15_000 }).toMatch(/Versionv1Items \(asked\)9Contrasts \(bad answers\)9Changed since pinned0/);

    // The candidate against production by default; an error names the field as the form labels it.
    const form = page.getByRole('form', { name: 'Run an evaluation' });
    expect(await form.getByRole('combobox', { name: /^Version/ }).inputValue()).toBe('2');
    expect(await form.getByRole('combobox', { name: /^Against/ }).inputValue()).toBe('production');
    await form.getByRole('combobox', { name: /^Provider/ }).selectOption('openai');
    await form.getByRole('checkbox', { name: /LLM judge/ }).uncheck();
    await form.getByText('Checks and limits').click();
    await form.getByLabel('Regular expression').fill('(a)\\1');
    await form.getByRole('button', { name: 'Estimate cost' }).click();
    await form.getByRole('alert').filter({ hasText: /^Regular expression: is not a valid regular expression for RE2/ }).waitFor();
    await form.getByLabel('Regular expression').fill('');

    // The estimate first (a dry run: nothing goes to the model), then the run on confirmation.
    await form.getByRole('button', { name: 'Estimate cost' }).click();
    const estimate = page.getByTestId('estimate');
    await estimate.waitFor();
    expect(await estimate.textContent()).toMatch(/Estimate for v2 on eval set v1: 9 items, 9 requests \(9 answers; 0 already cached\)/);
    expect(chat.requests).toHaveLength(0);
    await shot('10-eval-estimate');
    await estimate.getByRole('button', { name: 'Run evaluation' }).click();
    const result = page.getByTestId('eval-result');
    await result.waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('eval-result-comparison').textContent()).toMatch(/^v2 against v1: 3 wins, 3 ties, 3 losses; .*The gate stays shut/);
    expect(chat.requests).toHaveLength(18);

    // The runs list shows each run's mean and interval as the service computed them.
    const runs = await t.app.evalRuns.list('eval-agent');
    expect(runs.map((r) => r.promptVersion).sort()).toEqual([1, 2]);
    const scoreOf = (r: (typeof runs)[number]) => `${r.meanScore!.toFixed(2)} (${r.interval!.lower.toFixed(2)}–${r.interval!.upper.toFixed(2)})`;
    await expect.poll(() => page.getByTestId('run-score').allTextContents(), { timeout: 15_000 }).toEqual(runs.map(scoreOf));
    expect(await page.locator('table.eval-runs tbody tr').first().textContent()).toMatch(/9\/9openai\/.+none/);
    await shot('10-eval-runs');
    // Each run's answers, with its scores.
    const first = page.locator('table.eval-runs tbody tr').first();
    await first.getByRole('button', { name: 'Answers' }).click();
    await expect.poll(() => page.locator('.run-answers .result-item').count(), { timeout: 15_000 }).toBe(9);
    await first.getByRole('button', { name: 'Hide answers' }).click();
    expect(await page.locator('.run-answers').count()).toBe(0);

    const picker = page.getByRole('form', { name: 'Compare two runs' });
    expect(await picker.getByRole('combobox', { name: /^Run A/ }).inputValue()).toBe(runs.find((r) => r.promptVersion === 1)!.id);
    expect(await picker.getByRole('combobox', { name: /^Run B/ }).inputValue()).toBe(runs.find((r) => r.promptVersion === 2)!.id);

    // Side by side: both answers per example, the counts, the interval and the gate on top.
    await result.getByRole('button', { name: 'Side by side' }).click();
    const view = page.getByRole('region', { name: /^Side by side: v2 against v1/ });
    await view.getByTestId('wtl').waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent), { timeout: 15_000 }).toBe('Side by side: v2 against v1');
    expect(await view.getByTestId('wtl').textContent()).toBe('3 / 3 / 3');
    expect(await view.getByTestId('mean-difference').textContent()).toMatch(/^[+−±]\d\.\d{3} \([+−±]\d\.\d{3} to [+−±]\d\.\d{3}\)$/);
    expect(await view.getByTestId('gate').textContent()).toMatch(/^The gate stays shut\./);
    const pairs = view.getByTestId('pair');
    expect(await pairs.count()).toBe(9);
    const task3 = pairs.filter({ hasText: 'How do I do task 3?' });
    expect(await task3.getByTestId('answer-A').textContent()).toBe(good(3));
    expect(await task3.getByTestId('answer-B').textContent()).toBe(bad(3));
    expect(await task3.textContent()).toContain('No judge: scored by the offline scorers.');

    // Filtered to losses: only the examples where B scored below A.
    await view.getByRole('radio', { name: 'Losses (3)' }).check();
    await expect.poll(() => pairs.count(), { timeout: 15_000 }).toBe(3);
    expect(await pairs.evaluateAll((els) => els.map((e) => e.getAttribute('data-outcome')))).toEqual(['loss', 'loss', 'loss']);
    for (const pair of await pairs.all()) {
      expect(Number(await pair.getByTestId('score-B').textContent())).toBeLessThan(Number(await pair.getByTestId('score-A').textContent()));
    }
    expect((await pairs.allTextContents()).map((x) => /task (\d+)\?/.exec(x)?.[1]).sort()).toEqual(['3', '6', '9']);
    await shot('10-eval-side-by-side-losses');
    await view.getByRole('radio', { name: 'Wins (3)' }).check();
    await expect.poll(() => pairs.evaluateAll((els) => els.map((e) => e.getAttribute('data-outcome'))), { timeout: 15_000 }).toEqual(['win', 'win', 'win']);
    await view.getByRole('radio', { name: 'Ties (3)' }).check();
    await expect.poll(() => pairs.evaluateAll((els) => els.map((e) => e.getAttribute('data-outcome'))), { timeout: 15_000 }).toEqual(['tie', 'tie', 'tie']);

    // On a phone: the runs and the comparison fit without horizontal scrolling.
    await page.getByRole('radio', { name: 'All (9)' }).check();
    await page.setViewportSize({ width: 375, height: 812 });
    await page.waitForTimeout(100);
    {
      const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(scroll, 'horizontal scroll on the evaluations tab').toBeLessThanOrEqual(client);
      await shot('10-phone-evaluations');
      await page.locator('table.eval-runs').screenshot({ path: path.join(SHOTS, '10-phone-eval-runs.png') });
      await view.getByTestId('pair').first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(SHOTS, '10-phone-side-by-side.png') });
    }
    await page.setViewportSize({ width: 1280, height: 900 });

    // The prompt-version page: each version's latest score.
    await page.getByRole('link', { name: 'Prompt versions' }).click();
    for (const r of runs) {
      await expect.poll(() => page.getByTestId(`latest-score-v${r.promptVersion}`).textContent(), { timeout: 15_000 }).toBe(`Latest score: ${scoreOf(r)}, eval set v1`);
    }
    await shot('10-prompt-latest-scores');
  });

  it('fits a phone-width screen without horizontal scrolling', async () => {
    // The same tab: the key is in its sessionStorage.
    const phone = page;
    await phone.setViewportSize({ width: 375, height: 812 });
    // A long description once widened the page to 1218 px.
    await t.app.agents.update('ui-agent', { description: 'Answers Python questions about the standard library, packaging, typing and testing_with_a_very_long_identifier_that_does_not_break_anywhere_at_all_'.repeat(3) }, ACTOR);
    await phone.goto(server.url);
    await phone.getByRole('heading', { name: 'Agents' }).waitFor();
    await phone.waitForLoadState('networkidle');
    {
      const { scroll, client } = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(scroll, 'horizontal scroll on the agents list').toBeLessThanOrEqual(client);
      await shot('08-phone-agents', phone);
    }
    for (const tab of ['', '/review', '/quality', '/search', '/prompts', '/evaluations', '/index', '/runs']) {
      await phone.goto(`${server.url}/agents/ui-agent${tab}`);
      await phone.getByRole('heading', { name: 'ui-agent' }).waitFor();
      await phone.locator('.tab-body').waitFor();
      await phone.waitForLoadState('networkidle');
      const { scroll, client } = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      expect(scroll, `horizontal scroll on ${tab || '/'}`).toBeLessThanOrEqual(client);
      await shot(`08-phone${tab.replace('/', '-') || '-examples'}`, phone);
    }
    // The side panel, open on a phone.
    await phone.goto(`${server.url}/agents/ui-agent`);
    await phone.locator('table.data-grid tbody tr').first().click();
    await phone.locator('.panel .markdown').first().waitFor();
    const { scroll, client } = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(scroll, 'horizontal scroll with the side panel open').toBeLessThanOrEqual(client);
    await shot('08-phone-panel', phone);
    await phone.setViewportSize({ width: 1280, height: 900 });
  });

  it('never sent the key anywhere but the Authorization header', () => {
    expect(logs.length).toBeGreaterThan(10);
    expect(JSON.stringify(logs)).not.toContain(admin);
    expect(logs.some((l) => l.path.includes('key='))).toBe(false);
  });
});
