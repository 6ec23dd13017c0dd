import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { invoke } from '../../src/operations/invoke.ts';
import type { OperationContext } from '../../src/operations/operation.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(() => t.close());

/** Runs an operation as a door does (invoke), and checks the output against its schema. */
async function call(name: string, input: Record<string, unknown>, door?: OperationContext['door']): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const op = findOperation(name)!;
  const output = await invoke(op, input, { app: t.app, actor: ACTOR, access: FULL_ACCESS, door });
  const checked = op.output.safeParse(output);
  expect(checked.success, `${name} output: ${checked.error?.message}`).toBe(true);
  return output as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('workbench operations', () => {
  it('record each door as the source of the examples added through it; an import is "import"', async () => {
    await call('create_agent', { name: 'wb-ops' });
    const base = { agent: 'wb-ops', completion: 'c', rewardScore: 0.7, exampleType: 'positive' };
    expect((await call('add_example', { ...base, prompt: 'via mcp' }, 'mcp')).source).toBe('mcp');
    expect((await call('add_example', { ...base, prompt: 'via cli' }, 'cli')).source).toBe('cli');
    expect((await call('add_example', { ...base, prompt: 'via ui' }, 'ui')).source).toBe('ui');
    expect((await call('add_example', { ...base, prompt: 'no door' })).source).toBe('library');
    await call('import_examples', { agent: 'wb-ops', data: '{"prompt":"imported","completion":"c","reward_score":0.2,"example_type":"negative"}\n' }, 'mcp');
    const stats = await call('agent_stats', { agent: 'wb-ops' });
    expect(stats.bySource).toMatchObject({ mcp: 1, cli: 1, ui: 1, library: 1, import: 1, rest: 0 });
    expect(stats.weeks).toHaveLength(12);
    expect(stats.weeks[11].bySource).toMatchObject({ import: 1, mcp: 1 });
    expect(stats.usage).toMatchObject({ neverUsed: 5, neverUsedShare: 1 });
    expect(typeof stats.usage.trackedSince).toBe('string');
  });

  it('get_example returns the history; bulk_edit_examples checks its fields; list_examples has a total', async () => {
    const page = await call('list_examples', { agent: 'wb-ops', sort: 'positive_first', limit: 2 });
    expect(page.total).toBe(5);
    const ids = page.items.map((e: { id: string }) => e.id);
    await expect(call('bulk_edit_examples', { ids, action: 'set_type', rewardScore: 0.5 })).rejects.toThrow(/^exampleType: is required for set_type/);
    await expect(call('bulk_edit_examples', { ids, action: 'delete', exampleType: 'negative' })).rejects.toThrow(/^exampleType: is not used by delete/);
    await expect(call('bulk_edit_examples', { ids, action: 'rename' })).rejects.toThrow(/^action:/);
    expect(await call('bulk_edit_examples', { ids, action: 'set_type', exampleType: 'negative' })).toMatchObject({ affected: 2 });
    const shown = await call('get_example', { id: ids[0] });
    expect(shown.history).toHaveLength(1);
    expect(shown.history[0]).toMatchObject({ actor: ACTOR, actorName: ACTOR, oldType: 'positive', newType: 'negative' });
    expect((await call('list_examples', { agent: 'wb-ops', needsReview: true })).total).toBe(3);
    expect((await call('list_audit', { agent: 'wb-ops', limit: 1 })).items[0]).toMatchObject({ action: 'example.bulk_set_type', actorName: ACTOR });
  });

  it('search results and datasets count as uses in agent_stats', async () => {
    await call('search_examples', { agent: 'wb-ops', query: 'via mcp', topK: 1 });
    await t.app.usage.flush();
    expect((await call('agent_stats', { agent: 'wb-ops' })).usage).toMatchObject({ searched: 1, inDatasets: 0, neverUsed: 4 });
    await call('create_agent', { name: 'wb-data' });
    const examples = Array.from({ length: 12 }, (_, i) => ({ prompt: `data q${i}`, completion: `data a${i}`, rewardScore: 0.9, exampleType: 'positive' }));
    await call('add_examples', { agent: 'wb-data', examples: [...examples, { prompt: 'bad', completion: 'bad', rewardScore: 0.1, exampleType: 'negative' }] });
    await call('build_dataset', { agent: 'wb-data', format: 'openai-sft', validationFraction: 0 });
    expect((await call('agent_stats', { agent: 'wb-data' })).usage).toMatchObject({ searched: 0, inDatasets: 12, neverUsed: 1 });
  });
});
