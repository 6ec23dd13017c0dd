import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importExamples } from '../src/import-export/import-export.ts';
import { fmt, openBenchApp, percentile, syntheticJsonl } from './support.ts';

/** Issue 2's figures: JSONL import rows/s, and the latency of one filtered page at 100k rows. */
export async function benchImport(n = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000)): Promise<void> {
  const file = Buffer.from(syntheticJsonl(n));
  console.log(`\n## Import and list (${fmt(n, 0)} examples, ${fmt(file.length / 1e6)} MB of JSONL)`);
  console.log('| database | import rows/s | goal | list page p50 | list page p99 |');
  console.log('|---|---|---|---|---|');
  for (const kind of ['pglite', 'postgres'] as const) {
    const { app, close } = await openBenchApp(kind);
    try {
      await app.agents.create({ name: 'bench' }, 'bench');
      const t0 = performance.now();
      const r = await importExamples(app.examples, 'bench', file, 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
      const secs = (performance.now() - t0) / 1000;
      if (r.added !== n) throw new Error(`imported ${r.added} of ${n}`);

      // One filtered page (positive, reward >= 0.8, 50 rows), first page and deep pages.
      const times: number[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        const page = await app.examples.list('bench', { exampleType: 'positive', minScore: 0.8, limit: 50, cursor });
        times.push(performance.now() - t);
        cursor = page.nextCursor ?? undefined;
      }
      times.sort((a, b) => a - b);
      const goal = kind === 'pglite' ? '>= 5,000/s' : '>= 20,000/s';
      console.log(`| ${kind} | ${fmt(n / secs, 0)} | ${goal} | ${fmt(percentile(times, 50), 2)} ms | ${fmt(percentile(times, 99), 2)} ms |`);
    } finally {
      await close();
    }
  }
  // What a CLI user waits for: `exemplar examples import FILE` in a fresh process, start to exit.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-cli-'));
  try {
    const jsonl = path.join(dir, 'examples.jsonl');
    fs.writeFileSync(jsonl, file);
    const env = { ...process.env, EXEMPLAR_DATA_DIR: dir, DATABASE_URL: '' };
    const cli = (args: string[]) => spawnSync(process.execPath, [path.resolve('bin/exemplar.js'), ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    cli(['agents', 'create', 'bench']);
    const t0 = performance.now();
    const r = cli(['examples', 'import', jsonl, '--agent', 'bench']);
    const secs = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`CLI import failed: ${r.stderr}`);
    console.log(`\n| \`exemplar examples import\` of the same file on PGlite, a fresh process from start to exit | ${fmt(secs, 1)} s = ${fmt(n / secs, 0)} rows/s |\n|---|---|`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
