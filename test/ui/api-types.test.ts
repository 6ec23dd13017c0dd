// The UI's API types come from the operations (ui/src/api.gen.ts, by openapi-typescript from the
// OpenAPI document): a change to an operation's output schema must break the UI's type check.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/rest.ts';
import { generateApiTypes } from '../../ui/scripts/api-types.ts';
import { TEST_DB } from '../support/app.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe.runIf(TEST_DB === 'pglite')('the UI API types', () => {
  it('are current: ui/src/api.gen.ts is what the operations generate', async () => {
    expect(fs.readFileSync(path.join(ROOT, 'ui/src/api.gen.ts'), 'utf8')).toBe(await generateApiTypes());
  });

  it('break tsc -p ui when an operation renames a field the UI reads', { timeout: 240_000 }, async () => {
    const doc = structuredClone(openApiDocument()) as { paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: Schema }> }> }>> };
    type Schema = { properties?: Record<string, Schema>; items?: Schema; required?: string[] };
    // list_examples now answers `reward` where it said `rewardScore`.
    const item = doc.paths['/v1/agents/{agent}/examples'].get.responses[200].content['application/json'].schema.properties!.items.items!;
    item.properties!.reward = item.properties!.rewardScore;
    delete item.properties!.rewardScore;
    item.required = item.required!.map((r) => (r === 'rewardScore' ? 'reward' : r));

    // A copy of the UI's sources inside the repository (so node_modules resolves), with the new types.
    const dir = path.join(ROOT, 'node_modules/.cache/exemplar-ui-typecheck');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.cpSync(path.join(ROOT, 'ui/src'), path.join(dir, 'src'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'ui/tsconfig.json'), path.join(dir, 'tsconfig.json'));
    fs.writeFileSync(path.join(dir, 'src/api.gen.ts'), await generateApiTypes(doc));
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    expect(output).toMatch(/src\/Examples\.tsx.*error TS\d+:.*'rewardScore'/);
  });
});
