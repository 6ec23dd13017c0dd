// The web UI: its first-load size (every JS and CSS file index.html loads, gzipped at level 9, as
// a server or CDN would send it), then, in Debian's chromium when it is there, the examples grid on
// an agent with 50,000 examples (first page, page turns, a sort) and the review queue's throughput
// with the keyboard alone (the UI's own latency, not a person's). Builds the UI when ui/dist is missing.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startHttpServer } from '../src/http/server.ts';
import { fmt, openBenchApp, percentile } from './support.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'ui/dist');
const GOAL_KB = 300;

export async function benchUi(): Promise<void> {
  if (!fs.existsSync(path.join(DIST, 'index.html'))) execSync('npm run build:ui', { cwd: ROOT, stdio: 'ignore' });
  const html = fs.readFileSync(path.join(DIST, 'index.html'), 'utf8');
  // Scripts, stylesheets and module preloads that the page fetches on first load.
  const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let js = 0;
  let css = 0;
  let raw = 0;
  for (const ref of new Set(refs)) {
    const body = fs.readFileSync(path.join(DIST, ref));
    raw += body.length;
    const gz = gzipSync(body, { level: 9 }).length;
    if (ref.endsWith('.js')) js += gz;
    else css += gz;
  }
  const kb = (n: number) => (n / 1024).toFixed(1);
  console.log('\n## Web UI first load (ui/dist, gzipped)');
  console.log('| files | raw | gzipped JS | gzipped CSS | gzipped total | goal |');
  console.log('|---|---|---|---|---|---|');
  console.log(`| ${new Set(refs).size} | ${kb(raw)} KB | ${kb(js)} KB | ${kb(css)} KB | ${kb(js + css)} KB | < ${GOAL_KB} KB: ${js + css < GOAL_KB * 1024 ? 'met' : 'missed'} |`);
  await benchUiBrowser();
}

const CHROMIUM = process.env.EXEMPLAR_CHROMIUM ?? '/usr/bin/chromium';
const ROWS = Number(process.env.EXEMPLAR_BENCH_UI_ROWS ?? 50_000);

async function benchUiBrowser(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) return console.log(`\n(no chromium at ${CHROMIUM}: the grid and review figures are skipped)`);
  const { app, close } = await openBenchApp('pglite');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-chromium-'));
  const server = await startHttpServer(app, { host: '127.0.0.1', port: 0 });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { width: 1366, height: 768 },
  });
  try {
    const actor = 'cli:bench';
    const agent = await app.agents.create({ name: 'bench-ui' }, actor);
    const key = (await app.apiKeys.create({ scopes: ['admin'], name: 'bench' }, actor)).key;
    // Straight into the table: the grid needs rows, not vectors.
    await app.db.query(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type, metadata)
       SELECT $1, 'How do I handle case ' || g || ' in **python**?', 'Use this:' || chr(10) || chr(10) || '\`\`\`python' || chr(10) || 'print(' || g || ')' || chr(10) || '\`\`\`',
              (g % 101) / 100.0, CASE WHEN g % 3 = 0 THEN 'negative' ELSE 'positive' END, jsonb_build_object('n', g, 'source', 'bench')
         FROM generate_series(1, $2::int) g`,
      [agent.id, ROWS],
    );
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${server.url}/#key=${encodeURIComponent(key)}`);
    await page.getByRole('heading', { name: 'Agents' }).waitFor();

    const rows = page.locator('table.data-grid tbody tr');
    let t = performance.now();
    await page.goto(`${server.url}/agents/bench-ui`);
    await page.getByTestId('total').filter({ hasText: String(ROWS) }).waitFor({ timeout: 60_000 });
    await rows.nth(49).waitFor();
    const firstPage = performance.now() - t;

    const turns: number[] = [];
    for (let i = 0; i < 10; i++) {
      const before = await rows.first().getAttribute('data-id');
      t = performance.now();
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.waitForFunction((id) => document.querySelector('table.data-grid tbody tr')?.getAttribute('data-id') !== id, before);
      turns.push(performance.now() - t);
    }
    t = performance.now();
    await page.getByRole('button', { name: /^Reward/ }).click();
    await page.getByText('best reward first').waitFor();
    await page.waitForFunction(() => (document.querySelector('table.data-grid tbody input[aria-label^="Reward"]') as HTMLInputElement | null)?.value === '1');
    const sort = performance.now() - t;

    // Review: N keyboard ratings in a row, each waiting for the UI to show the next example.
    const N = 100;
    await page.goto(`${server.url}/agents/bench-ui/review`);
    const progress = page.getByTestId('review-progress');
    await progress.filter({ hasText: /^1 of / }).waitFor({ timeout: 60_000 });
    t = performance.now();
    for (let i = 0; i < N; i++) {
      await page.keyboard.press(String((i % 5) + 1));
      await progress.filter({ hasText: new RegExp(`^${i + 2} of `) }).waitFor();
    }
    const shown = performance.now() - t;
    await progress.filter({ hasText: new RegExp(` ${N} rated`) }).waitFor({ timeout: 60_000 });
    const saved = performance.now() - t;

    turns.sort((a, b) => a - b);
    console.log(`\n## Web UI in chromium (${ROWS.toLocaleString('en')} examples in the agent, 1366x768, PGlite, in-process server)`);
    console.log('| measure | time |');
    console.log('|---|---|');
    console.log(`| examples grid: first page of 50 rows with the total, from navigation | ${fmt(firstPage, 0)} ms |`);
    console.log(`| next page (10 turns): p50 / max | ${fmt(percentile(turns, 50), 0)} / ${fmt(turns[turns.length - 1], 0)} ms |`);
    console.log(`| sort by reward (header click to the best row shown) | ${fmt(sort, 0)} ms |`);
    console.log(`| review: ${N} ratings by keyboard, next example shown | ${fmt(shown, 0)} ms (${fmt((N / shown) * 60_000, 0)} ratings/min) |`);
    console.log(`| review: ${N} ratings saved on the server | ${fmt(saved, 0)} ms (${fmt((N / saved) * 60_000, 0)} ratings/min) |`);
  } finally {
    await browser.close();
    await server.close();
    await close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
