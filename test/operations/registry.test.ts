import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findOperation, operations } from '../../src/operations/registry.ts';
import type { OperationContext } from '../../src/operations/operation.ts';
import { parseInput } from '../../src/validation.ts';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let ctx: OperationContext;
beforeAll(async () => {
  t = await openTestApp();
  ctx = { app: t.app, actor: ACTOR, access: FULL_ACCESS };
});
afterAll(() => t.close());

/** Runs an operation the way every door does: validate input, run, and check the output against its schema. */
async function call(name: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const op = findOperation(name)!;
  const output = await op.run(parseInput(op.input, input), ctx);
  const json = JSON.parse(JSON.stringify(output));
  const checked = op.output.safeParse(json);
  expect(checked.success, `${name} output: ${checked.error?.message}`).toBe(true);
  return json;
}

describe('operations registry', () => {
  it('gives every operation a unique snake_case name, a title, a teaching description and JSON schemas', () => {
    const names = operations.map((op) => op.name);
    expect(new Set(names).size).toBe(names.length);
    for (const op of operations) {
      expect(op.name).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(op.title.length).toBeGreaterThan(3);
      expect(op.description.length, op.name).toBeGreaterThan(40);
      expect(() => z.toJSONSchema(op.input, { io: 'input', unrepresentable: 'any' })).not.toThrow();
      expect(() => z.toJSONSchema(op.output)).not.toThrow();
      expect(op.annotations.readOnlyHint && op.annotations.destructiveHint).toBe(false);
    }
    const commands = operations.flatMap((op) => (op.cli ? [op.cli.command] : []));
    expect(new Set(commands).size).toBe(commands.length);
  });

  it('runs the agent and example operations end to end with outputs matching their schemas', async () => {
    await call('create_agent', { name: 'ops', description: 'registry test' });
    expect((await call('list_agents', {})).items).toHaveLength(1);
    expect(await call('get_agent', { agent: 'ops' })).toMatchObject({ name: 'ops' });
    expect(await call('update_agent', { agent: 'ops', scoreWeight: 0.5 })).toMatchObject({ scoreWeight: 0.5 });
    const one = await call('add_example', { agent: 'ops', prompt: 'p', completion: 'c', rewardScore: 0.4, exampleType: 'negative' });
    const many = await call('add_examples', {
      agent: 'ops',
      examples: [
        { prompt: 'p2', completion: 'c2', rewardScore: 0.9, exampleType: 'positive' },
        { prompt: 'p', completion: 'c', rewardScore: 0.4, exampleType: 'negative' },
      ],
    });
    expect(many).toMatchObject({ added: 1, duplicates: 1 });
    expect(await call('get_example', { id: one.id })).toMatchObject({ prompt: 'p' });
    expect(await call('update_example', { id: one.id, rewardScore: 0.1 })).toMatchObject({ rewardScore: 0.1 });
    expect((await call('list_examples', { agent: 'ops', exampleType: 'positive' })).items).toHaveLength(1);
    const exported = await call('export_examples', { agent: 'ops' });
    expect(exported.count).toBe(2);
    await call('create_agent', { name: 'ops-copy' });
    expect(await call('import_examples', { agent: 'ops-copy', data: exported.jsonl, fileName: 'x.jsonl' })).toMatchObject({ added: 2 });
    expect(await call('delete_examples', { ids: [one.id] })).toEqual({ deleted: 1 });
    expect(await call('load_demo', {})).toMatchObject({ created: true });
    expect(await call('delete_agent', { agent: 'ops-copy' })).toMatchObject({ deletedExamples: 2 });
  });

  it('guesses CSV from the file name', async () => {
    await call('create_agent', { name: 'csv' });
    const r = await call('import_examples', { agent: 'csv', fileName: 'sheet.CSV', data: 'prompt,completion,reward_score,example_type\nq,a,1,positive\n' });
    expect(r).toMatchObject({ added: 1 });
  });
});
