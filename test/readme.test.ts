// The README's library example is a whole program: this runs it exactly as written, on the demo
// agent, so the seed's three calls (sync, hybrid search, optimize) cannot drift from the code.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from './support/app.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

let t: Awaited<ReturnType<typeof cliEnv>>;
beforeAll(async () => {
  t = await cliEnv();
});
afterAll(() => t.close());

function run(args: string[]) {
  const { DATABASE_URL: _, EXEMPLAR_DATA_DIR: __, ...parentEnv } = process.env;
  // No LLM key: the optimizer uses its offline heuristic.
  const env = { ...parentEnv, ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', ...t.env };
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("the README's library example", () => {
  it('runs as written: sync, hybrid search and optimize on the demo agent', () => {
    const block = /<!-- library-example -->\n```ts\n([\s\S]*?)\n```/.exec(README);
    expect(block, 'README.md has a ```ts block after <!-- library-example -->').toBeTruthy();
    const code = block![1];
    for (const call of ['syncTrainingDataToVectorStore(', 'hybridRetrieveBestExamples(', 'optimizePromptWithMcpRag(']) expect(code).toContain(call);

    expect(run(['bin/exemplar.js', 'demo']).code).toBe(0);
    // Beside the README, so its `./src/exemplar.ts` import resolves as it would for a reader.
    const file = path.join(ROOT, `.readme-example-${randomBytes(4).toString('hex')}.mts`);
    fs.writeFileSync(file, code);
    try {
      const r = run(['--import', 'tsx', file]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^33\d examples indexed$/);
      const ranked = lines.slice(1, -1).map((l) => l.split(' '));
      expect(ranked.length).toBeGreaterThan(0);
      expect(ranked.map((l) => Number(l[0]))).toEqual(ranked.map((_, i) => i + 1));
      // hybrid = 0.7 · similarity + 0.3 · reward, the orchestrator's weights.
      for (const [, hybrid, similarity, score] of ranked) expect(Number(hybrid)).toBeCloseTo(0.7 * Number(similarity) + 0.3 * Number(score), 5);
      expect(lines.at(-1)).toMatch(/^version 1, by heuristic/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
