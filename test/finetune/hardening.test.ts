import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { validateExample } from '../../src/examples/example.ts';
import { fillCommand, toYaml, trainerConfig } from '../../src/finetune/backends/local.ts';
import { loadFineTuneConfig } from '../../src/finetune/config.ts';
import { HYPERPARAMETER_NAMES } from '../../src/finetune/hyperparameters.ts';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let env: TestEnv;
let server: RunningServer;
let writeKey: string;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-ft-hardening-'));

async function call(name: string, input: unknown): Promise<any> {
  const op = findOperation(name);
  if (!op) throw new Error(`no operation ${name}`);
  return invoke(op, input, { app: env.app, actor: ACTOR, access: FULL_ACCESS });
}

const api = async (method: string, url: string, body: unknown) => {
  const res = await fetch(`${server.url}${url}`, {
    method,
    headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

const runCount = async () => (await env.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fine_tuning_runs')).rows[0].n;

beforeAll(async () => {
  env = await openTestApp({ dataDir });
  const agent = await env.app.agents.create({ name: 'ft-hard' }, ACTOR);
  const examples = Array.from({ length: 12 }, (_, i) =>
    validateExample({ prompt: `question ${i} about topic ${i * 7}`, completion: `answer ${i}`, rewardScore: 0.9, exampleType: 'positive' }, 1 << 20),
  );
  await env.app.examples.addMany('ft-hard', examples, ACTOR);
  writeKey = (await env.app.apiKeys.create({ scopes: [`write:${agent.name}`] }, ACTOR)).key;
  server = await startHttpServer(env.app, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await server?.close();
  await env?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const files = { dir: '/data/runs/r1', train: '/data/runs/r1/train.jsonl', validation: null };
const AXOLOTL_KEYS = [
  'base_model', 'adapter', 'load_in_4bit', 'load_in_8bit', 'lora_r', 'lora_alpha', 'lora_dropout', 'lora_target_linear', 'datasets', 'val_set_size',
  'sequence_len', 'sample_packing', 'micro_batch_size', 'gradient_accumulation_steps', 'num_epochs', 'learning_rate', 'optimizer', 'lr_scheduler',
  'warmup_ratio', 'bf16', 'gradient_checkpointing', 'logging_steps', 'output_dir',
];

describe('trainer configs are generated, never concatenated (issue 12, item 3)', () => {
  const injectedKey = 'x:\ntrust_remote_code: true\nbase_model: attacker/evil-model\ny';

  it("refuses the issue's injection on create_run with a 400 that lists the allowed names; nothing is recorded", async () => {
    const before = await runCount();
    const err = await call('create_run', {
      agent: 'ft-hard', format: 'axolotl-alpaca', backend: 'local', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', command: 'true',
      hyperparameters: { lora_r: 8, [injectedKey]: 1 },
    }).catch((e) => e);
    expect(err).toMatchObject({ code: 'invalid_input', status: 400, field: 'hyperparameters' });
    for (const name of HYPERPARAMETER_NAMES) expect(err.message).toContain(name);
    expect(await runCount()).toBe(before);

    // The shape: a known name whose value is an object with such a key.
    await expect(
      call('create_run', { agent: 'ft-hard', format: 'axolotl-alpaca', backend: 'local', baseModel: 'm', command: 'true', hyperparameters: { lora_r: { [injectedKey]: 1 } } }),
    ).rejects.toMatchObject({ code: 'invalid_input', field: 'hyperparameters.lora_r' });
    expect(await runCount()).toBe(before);

    // Over REST, with a write key.
    const rest = await api('POST', '/v1/agents/ft-hard/runs', {
      format: 'axolotl-alpaca', backend: 'local', baseModel: 'm', hyperparameters: { [injectedKey]: 1 },
    });
    expect(rest.status, JSON.stringify(rest.body)).toBe(400);
    expect(rest.body.error.code).toBe('invalid_input');
    expect(rest.body.error.message).toContain('allowed: lora_r');
    expect(await runCount()).toBe(before);
  });

  it('refuses out-of-bounds and mistyped values, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ num_epochs: 1000 }, 'hyperparameters.num_epochs'],
      [{ num_epochs: 2.5 }, 'hyperparameters.num_epochs'],
      [{ learning_rate: 0 }, 'hyperparameters.learning_rate'],
      [{ learning_rate: 3 }, 'hyperparameters.learning_rate'],
      [{ lora_dropout: 1 }, 'hyperparameters.lora_dropout'],
      [{ lora_r: '8\ntrust_remote_code: true' }, 'hyperparameters.lora_r'],
      [{ qlora: 'yes' }, 'hyperparameters.qlora'],
      [{ micro_batch_size: 0 }, 'hyperparameters.micro_batch_size'],
    ];
    for (const [hyperparameters, field] of cases) {
      await expect(
        call('create_run', { agent: 'ft-hard', format: 'axolotl-alpaca', backend: 'local', baseModel: 'm', command: 'true', hyperparameters }),
        JSON.stringify(hyperparameters),
      ).rejects.toMatchObject({ code: 'invalid_input', status: 400, field });
    }
    await expect(
      call('create_run', { agent: 'ft-hard', format: 'openai-sft', backend: 'openai', baseModel: 'm', hyperparameters: { n_epochs: 'many' } }),
    ).rejects.toMatchObject({ field: 'hyperparameters.n_epochs', message: expect.stringContaining('"auto" or an integer from 1 to 50') });
    // A name the backend does not take, though another does; and "auto", which only OpenAI understands.
    await expect(
      call('create_run', { agent: 'ft-hard', format: 'axolotl-alpaca', backend: 'local', baseModel: 'm', command: 'true', hyperparameters: { n_epochs: 3 } }),
    ).rejects.toMatchObject({ field: 'hyperparameters', message: expect.stringContaining('it takes lora_r') });
    await expect(
      call('create_run', { agent: 'ft-hard', format: 'trl-preference', backend: 'local', baseModel: 'm', command: 'true', hyperparameters: { beta: 'auto' } }),
    ).rejects.toMatchObject({ field: 'hyperparameters.beta' });
  });

  it('writes YAML whose keys are exactly the expected ones, whatever the base model holds', () => {
    const baseModel = 'org/model\ntrust_remote_code: true\n"quoted": \'x\' # comment\n- item';
    const { text } = trainerConfig({ baseModel, datasetFormat: 'axolotl-alpaca', hyperparameters: {} }, files);
    const parsed = parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(AXOLOTL_KEYS);
    expect(parsed.base_model).toBe(baseModel);
    expect(parsed.datasets).toEqual([{ path: files.train, ds_type: 'json', type: 'alpaca' }]);
  });

  it('refuses a stored run whose hyperparameters hold an injected key (rows written before the checks)', () => {
    expect(() =>
      trainerConfig({ baseModel: 'm', datasetFormat: 'axolotl-alpaca', hyperparameters: { ['lora_r: 1\ntrust_remote_code']: true } }, files),
    ).toThrow(/unknown hyperparameter/);
    expect(() => trainerConfig({ baseModel: 'm', datasetFormat: 'axolotl-alpaca', hyperparameters: { lora_r: { [injectedKey]: 1 } } }, files)).toThrow(/lora_r/);
  });

  it('writes nested keys that cannot add a line, should an object ever reach the writer', () => {
    const text = toYaml({ base_model: 'm', lora_r: { [injectedKey]: 1 }, datasets: [{ [injectedKey]: 'v', path: 'p' }] });
    const parsed = parse(text) as Record<string, any>;
    expect(Object.keys(parsed)).toEqual(['base_model', 'lora_r', 'datasets']);
    expect(parsed.base_model).toBe('m');
    expect(parsed.lora_r).toEqual({ [injectedKey]: 1 });
    expect(parsed.datasets).toEqual([{ [injectedKey]: 'v', path: 'p' }]);
  });

  it('round-trips every local value into the Axolotl and TRL configs', () => {
    const hp = { lora_r: 8, lora_alpha: 16, lora_dropout: 0.1, learning_rate: 1e-5, num_epochs: 2, micro_batch_size: 4, gradient_accumulation_steps: 8, sequence_len: 4096, qlora: true };
    const axolotl = parse(trainerConfig({ baseModel: 'm', datasetFormat: 'axolotl-chat-template', hyperparameters: hp }, files).text);
    expect(axolotl).toMatchObject({
      lora_r: 8, lora_alpha: 16, lora_dropout: 0.1, learning_rate: 1e-5, num_epochs: 2, micro_batch_size: 4, gradient_accumulation_steps: 8,
      sequence_len: 4096, adapter: 'qlora', load_in_4bit: true, chat_template: 'tokenizer_default',
    });
    const dpo = trainerConfig({ baseModel: 'm', datasetFormat: 'trl-preference', hyperparameters: { ...hp, beta: 0.25 } }, { ...files, validation: '/data/runs/r1/validation.jsonl' });
    expect(path.basename(dpo.file)).toBe('trl-dpo.yaml');
    expect(parse(dpo.text)).toMatchObject({
      trainer: 'dpo', lora_r: 8, lora_alpha: 16, lora_dropout: 0.1, learning_rate: 1e-5, num_train_epochs: 2, per_device_train_batch_size: 4,
      gradient_accumulation_steps: 8, max_length: 4096, load_in_4bit: true, beta: 0.25, eval_data_files: '/data/runs/r1/validation.jsonl',
    });
  });
});

describe('the training command', () => {
  // Every character sh treats specially, in a path.
  const nasty = `/tmp/a b/it's "q" $(touch PWNED) \`touch PWNED\` $HOME \\ ; | & > *`;
  const values = { config: nasty, train: '/t', validation: null, dir: '/d' };
  const sh = (command: string, cwd: string) => execFileSync('sh', ['-c', command], { cwd, encoding: 'utf8' });

  it('puts each path in exactly, outside quotes, inside single or double quotes, and inside $(...)', () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-cmd-'));
    try {
      for (const template of [
        'printf %s {config}',
        "printf %s '{config}'",
        'printf %s "{config}"',
        'printf %s "$(printf %s {config})"',
        "printf %s 'pre-'{config}'-post'",
        "printf %s \"it's {config}\"",
        "# a comment's quote\nprintf %s {config}",
      ]) {
        const expected = template.includes('pre-') ? `pre-${nasty}-post` : template.includes("it's") ? `it's ${nasty}` : nasty;
        expect(sh(fillCommand(template, values), cwd), template).toBe(expected);
      }
      expect(fs.existsSync(path.join(cwd, 'PWNED'))).toBe(false);
      // A missing validation split is an empty argument, not a missing one.
      expect(sh(fillCommand('printf "[%s]" {validation}', values), cwd)).toBe('[]');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses ${config} and control characters in a path', () => {
    expect(() => fillCommand('echo ${config}', values)).toThrow(/write \{config\}, not \$\{config\}/);
    expect(() => fillCommand('echo {config}', { ...values, config: '/a\nrm -rf /' })).toThrow(/control character/);
  });
});

describe('update_run log limits (issue 12, item 9)', () => {
  it('has documented defaults, read from the environment', () => {
    expect(loadFineTuneConfig({})).toMatchObject({ logLinesPerUpdate: 1000, logBytesPerUpdate: 1048576, logMaxBytes: 16777216 });
    expect(loadFineTuneConfig({ EXEMPLAR_FINETUNE_LOG_MAX_BYTES: '2048' }).logMaxBytes).toBe(2048);
    expect(() => loadFineTuneConfig({ EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE: '0' })).toThrow(/EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE/);
  });

  it('refuses too many lines or bytes per update, and more log than a run keeps, with a 413 naming the limit', async () => {
    const config = env.app.runs.config;
    const saved = { ...config };
    try {
      const run = await call('create_run', { agent: 'ft-hard', format: 'trl-conversational', backend: 'external', baseModel: 'm' });
      config.logLinesPerUpdate = 5;
      config.logBytesPerUpdate = 100;
      config.logMaxBytes = 250;
      await expect(call('update_run', { id: run.id, logLines: ['a', 'b', 'c', 'd', 'e', 'f'] })).rejects.toMatchObject({
        code: 'log_limit_exceeded', status: 413, message: expect.stringContaining('EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE'),
      });
      await expect(call('update_run', { id: run.id, logLines: ['x'.repeat(101)] })).rejects.toMatchObject({
        status: 413, message: expect.stringContaining('EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE'),
      });
      const rest = await api('PATCH', `/v1/runs/${run.id}`, { status: 'running', logLines: ['y'.repeat(200)] });
      expect(rest.status).toBe(413);
      expect(rest.body.error).toMatchObject({ code: 'log_limit_exceeded', details: { limit: 100, variable: 'EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE' } });
      // A refused update changes nothing, not even the status it carried.
      expect((await env.app.runs.get(run.id)).status).toBe('pending');

      const line = 'z'.repeat(79); // 80 bytes with its newline
      for (let i = 0; i < 3; i++) await call('update_run', { id: run.id, logLines: [line] });
      await expect(call('update_run', { id: run.id, status: 'running', logLines: [line] })).rejects.toMatchObject({
        status: 413, message: expect.stringContaining('EXEMPLAR_FINETUNE_LOG_MAX_BYTES'),
      });
      expect((await env.app.runs.get(run.id)).status).toBe('pending');
      expect((await call('get_run_logs', { id: run.id })).logs).toBe(`${line}\n`.repeat(3));
      // Without lines, the run still moves on.
      expect((await call('update_run', { id: run.id, status: 'running' })).status).toBe('running');
    } finally {
      Object.assign(config, saved);
    }
  });

  it("keeps a local command's output to the run's limit, with one note saying so", async () => {
    const config = env.app.runs.config;
    const saved = config.logMaxBytes;
    try {
      config.logMaxBytes = 4096;
      const run = await call('create_run', {
        agent: 'ft-hard', format: 'trl-conversational', backend: 'local', baseModel: 'm',
        command: `node -e "for (let i = 0; i < 2000; i++) console.log('step ' + i + ' loss 0.5')"`,
      });
      const end = Date.now() + 20_000;
      while ((await env.app.runs.get(run.id)).status === 'running' && Date.now() < end) {
        await env.app.runs.refresh(run.id);
        await new Promise((r) => setTimeout(r, 50));
      }
      const done = await env.app.runs.get(run.id);
      expect(done.status).toBe('succeeded');
      const { logs } = await env.app.runs.logs(run.id);
      expect(Buffer.byteLength(logs)).toBeLessThanOrEqual(4096);
      expect(logs).toContain('step 0 loss 0.5');
      expect(logs).not.toContain('step 1999 loss');
      expect(logs.split('EXEMPLAR_FINETUNE_LOG_MAX_BYTES').length - 1).toBe(1);
      // The full output stays in the run's folder.
      expect(fs.readFileSync(path.join(done.dir, 'output.log'), 'utf8')).toContain('step 1999 loss 0.5');
    } finally {
      config.logMaxBytes = saved;
    }
  });
});
