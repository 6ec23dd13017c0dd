import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../support/app.ts';

const BIN = path.resolve('bin/exemplar.js');
let t: Awaited<ReturnType<typeof cliEnv>>;
let tmp: string;
beforeAll(async () => {
  t = await cliEnv();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-cli-wb-'));
});
afterAll(async () => {
  await t.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function cli(args: string[]) {
  const { DATABASE_URL: _, ...parentEnv } = process.env;
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...parentEnv, ...t.env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('exemplar CLI: the workbench commands', () => {
  it('filters by metadata, bulk-edits, shows the history, and prints stats as text or JSON', () => {
    const file = path.join(tmp, 'wb.jsonl');
    const line = (i: number) =>
      JSON.stringify({ prompt: `cli q${i}`, completion: `cli a${i}`, reward_score: i / 10, example_type: i % 2 ? 'positive' : 'negative', metadata: { team: i < 3 ? 'a' : 'b' } });
    fs.writeFileSync(file, `${[0, 1, 2, 3, 4, 5].map(line).join('\n')}\n`);
    expect(cli(['agents', 'create', 'wb-cli']).code).toBe(0);
    expect(cli(['examples', 'import', file, '--agent', 'wb-cli']).code).toBe(0);

    const listed = cli(['--json', 'examples', 'list', '--agent', 'wb-cli', '--metadata', '{"team":"a"}', '--sort', 'positive_first']);
    expect(listed.code, listed.stderr).toBe(0);
    const page = JSON.parse(listed.stdout);
    expect(page.total).toBe(3);
    expect(page.items[0]).toMatchObject({ exampleType: 'positive', source: 'import' });
    expect(cli(['examples', 'list', '--agent', 'wb-cli', '--needs-review']).stdout).toMatch(/^6 examples match\./);
    const bad = cli(['examples', 'list', '--agent', 'wb-cli', '--min-score', '0.9', '--max-score', '0.2']);
    expect(bad).toMatchObject({ code: 2, stderr: 'error: --min-score: is above maxScore (0.9 > 0.2): no example could match\n' });

    const ids = page.items.map((e: { id: string }) => e.id);
    expect(cli(['examples', 'bulk', ...ids, '--action', 'set_reward', '--reward', '0.33'])).toMatchObject({ code: 2, stderr: expect.stringContaining('Pass --yes') }); // no terminal
    const bulk = cli(['examples', 'bulk', ...ids, '--action', 'set_reward', '--reward', '0.33', '--yes']);
    expect(bulk.stdout, bulk.stderr).toContain('Changed 3 examples.');
    const shown = JSON.parse(cli(['--json', 'examples', 'show', ids[0]]).stdout);
    expect(shown.rewardScore).toBe(0.33);
    expect(shown.history).toHaveLength(1);
    expect(shown.history[0]).toMatchObject({ actor: `cli:${os.userInfo().username}`, newReward: 0.33 });

    const stats = JSON.parse(cli(['stats', '--agent', 'wb-cli', '--json']).stdout);
    expect(stats).toMatchObject({ agent: 'wb-cli', total: 6, byType: { positive: 3, negative: 3 }, bySource: { import: 6 } });
    expect(stats.weeks.at(-1).ratings).toBe(3);
    const text = cli(['stats', '--agent', 'wb-cli', '--weeks', '2']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Agent "wb-cli": 6 examples (3 positive, 3 negative)');
    expect(text.stdout).toContain('Reward histogram:');
    expect(text.stdout).toMatch(/week\s+added\s+positive/);

    const audit = cli(['audit', '--agent', 'wb-cli']);
    expect(audit.stdout).toContain('example.bulk_set_reward');
  }, 600_000); // some 15 CLI processes: slow on a loaded machine
});
