import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.ts';
import { describeUnexpected } from '../../src/errors.ts';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, cliEnv, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

// The corpus of malformed inputs (issue 12): each is refused with a 4xx naming the field (and the
// limit and its variable, for a limit) on every door, and leaves the database as it was.

/** Small limits, so each can be crossed cheaply. */
const LIMITS: Partial<Config> = {
  maxBodyBytes: 256 * 1024,
  maxImportBytes: 1024 * 1024,
  maxJsonDepth: 16,
  maxMetadataDepth: 5,
  maxMetadataBytes: 2048,
  maxPromptBytes: 4096,
  maxTextBytes: 8192,
  allowedHosts: ['exemplar.test'],
};

let t: TestEnv;
let server: RunningServer;
let admin: string;
let exampleId: string;
let mcp: Client;
beforeAll(async () => {
  t = await openTestApp(LIMITS);
  admin = (await t.app.apiKeys.create({ scopes: ['admin'] }, ACTOR)).key;
  await t.app.agents.create({ name: 'corpus' }, ACTOR);
  exampleId = (await t.app.examples.add('corpus', { prompt: 'sort a list', completion: 'sorted(xs)', rewardScore: 0.9, exampleType: 'positive' }, ACTOR)).id;
  server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
  mcp = new Client({ name: 'corpus', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${admin}` } } }));
});
afterAll(async () => {
  await mcp?.close();
  await server?.close();
  await t?.close();
});

const example = (over: Record<string, unknown> = {}) => ({ prompt: 'p', completion: 'c', rewardScore: 0.5, exampleType: 'positive', ...over });
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
};

interface Case {
  name: string;
  tool: string;
  input: Record<string, unknown>;
  /** The field the error names (a prefix is enough for deep paths). */
  field: string;
  /** Words the message must hold: the limit and its variable, the line. */
  says?: string[];
  status?: number;
  code?: string;
}

/** Every case goes through REST (the operation's route) and MCP (the tool), with the same input. */
const CASES: Case[] = [
  { name: 'NUL in a prompt', tool: 'add_example', input: example({ prompt: 'a\u0000b' }), field: 'prompt', says: ['NUL'] },
  { name: 'NUL in a completion', tool: 'add_example', input: example({ completion: 'c\u0000' }), field: 'completion', says: ['NUL'] },
  { name: 'NUL in a metadata key', tool: 'add_example', input: example({ metadata: { 'k\u0000': 1 } }), field: 'metadata', says: ['key', 'NUL'] },
  { name: 'NUL in a metadata value', tool: 'add_example', input: example({ metadata: { k: ['ok', 'v\u0000'] } }), field: 'metadata.k.1', says: ['NUL'] },
  { name: 'a lone surrogate in a prompt', tool: 'add_example', input: example({ prompt: 'x\ud800y' }), field: 'prompt', says: ['surrogate'] },
  { name: 'a lone surrogate in a metadata key', tool: 'add_example', input: example({ metadata: { '\udc00': 1 } }), field: 'metadata', says: ['surrogate'] },
  { name: 'metadata nested 1,000 deep', tool: 'add_example', input: example({ metadata: nested(1000) }), field: 'metadata.d.d', says: ['16 levels', 'EXEMPLAR_MAX_JSON_DEPTH'] },
  { name: 'metadata deeper than its own limit', tool: 'add_example', input: example({ metadata: nested(6) }), field: 'metadata.d.d.d.d.d', says: ['5 levels', 'EXEMPLAR_MAX_METADATA_DEPTH'] },
  { name: 'metadata over its byte limit', tool: 'add_example', input: example({ metadata: { note: 'x'.repeat(3000) } }), field: 'metadata', says: ['2048 bytes', 'EXEMPLAR_MAX_METADATA_BYTES'] },
  { name: 'a prompt over the text limit', tool: 'add_example', input: example({ prompt: 'x'.repeat(9000) }), field: 'prompt', says: ['8192 bytes', 'EXEMPLAR_MAX_TEXT_BYTES'], status: 413, code: 'text_too_large' },
  {
    name: 'one example of a batch over the metadata limit',
    tool: 'add_examples',
    input: { examples: [example(), example({ prompt: 'q', metadata: { note: 'x'.repeat(3000) } })] },
    field: 'examples.1.metadata',
    says: ['EXEMPLAR_MAX_METADATA_BYTES'],
  },
  { name: 'NUL in an update', tool: 'update_example', input: { metadata: { k: '\u0000' } }, field: 'metadata.k', says: ['NUL'] },
  { name: 'a prompt version over its limit', tool: 'set_prompt', input: { content: 'y'.repeat(5000) }, field: 'content', says: ['4096 bytes', 'EXEMPLAR_MAX_PROMPT_BYTES'] },
  {
    name: 'an import line holding an escaped NUL',
    tool: 'import_examples',
    input: { data: '{"prompt":"ok","completion":"c","reward_score":1,"example_type":"positive"}\n{"prompt":"a\\u0000","completion":"c","reward_score":1,"example_type":"positive"}\n' },
    field: '',
    code: 'invalid_file',
    says: ['line 2', 'prompt', 'NUL'],
  },
  {
    name: 'an import line nested too deep',
    tool: 'import_examples',
    input: { data: `{"prompt":"a","completion":"c","reward_score":1,"example_type":"positive","metadata":${'{"d":'.repeat(500)}1${'}'.repeat(500)}}\n` },
    field: '',
    code: 'invalid_file',
    says: ['line 1', 'EXEMPLAR_MAX_JSON_DEPTH'],
  },
  {
    name: 'an import file holding a raw NUL',
    tool: 'import_examples',
    input: { data: 'prompt,completion,reward_score,example_type\nq\u0000,a,1,positive\n', format: 'csv' },
    field: 'data',
    says: ['line 2', 'NUL'],
  },
  { name: 'transformers: with a server path', tool: 'create_agent', input: { name: 'pathy', embeddingModel: 'transformers:/etc/passwd-model' }, field: 'embeddingModel', says: ['EXEMPLAR_TRANSFORMERS_DIR'] },
  { name: 'transformers: climbing out of the models folder', tool: 'create_agent', input: { name: 'climber', embeddingModel: 'transformers:Xenova/../../../etc@384' }, field: 'embeddingModel', says: ['EXEMPLAR_TRANSFORMERS_DIR'] },
  { name: 'transformers: with a server path, on update', tool: 'update_agent', input: { embeddingModel: 'transformers:./relative/model@384' }, field: 'embeddingModel', says: ['EXEMPLAR_TRANSFORMERS_DIR'] },
];

/** Fills the route's path parameters for a case; the rest goes in the body. */
function restRequest(c: Case): { method: string; path: string; body: Record<string, unknown> } {
  const op = findOperation(c.tool)!;
  const input: Record<string, unknown> = { agent: 'corpus', id: exampleId, ...c.input };
  const body = { ...input };
  const p = op.http!.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    delete body[name];
    return encodeURIComponent(String(input[name]));
  });
  return { method: op.http!.method, path: p, body };
}

async function rest(method: string, p: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, error: (JSON.parse(text) as { error?: { code: string; message: string; details?: Record<string, unknown> } }).error };
}

/** A request over a raw socket: fetch will not send a Host header of our choosing. */
function raw(opts: { method?: string; path: string; host?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<{ status: number; body: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, setHost: false, headers: { authorization: `Bearer ${admin}`, ...opts.headers } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setHeader('host', opts.host ?? `127.0.0.1:${port}`);
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The database without audit_log (MCP records every tool call there, refused ones too). */
async function data(): Promise<Record<string, string>> {
  const { audit_log: _, ...rest } = await snapshot(t.app);
  return rest;
}

describe('malformed input on the REST door', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s with a 4xx naming the field', async (_, c) => {
    const before = await snapshot(t.app);
    const req = restRequest(c);
    const res = await rest(req.method, req.path, req.body);
    expect(res.status, JSON.stringify(res.error)).toBe(c.status ?? 400);
    expect(res.error!.code).toBe(c.code ?? 'invalid_input');
    if (c.field) expect(String(res.error!.details?.field)).toMatch(new RegExp(`^${c.field.replace(/\./g, '\\.')}`));
    for (const word of c.says ?? []) expect(res.error!.message).toContain(word);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('shows 1e309 as too large, not as "got null"', async () => {
    const res = await rest('POST', '/v1/agents/corpus/examples', JSON.stringify(example()).replace('0.5', '1e309'));
    expect(res.status).toBe(400);
    expect(res.error).toMatchObject({ details: { field: 'rewardScore' } });
    expect(res.error!.message).toBe('rewardScore: must be a finite number, got Infinity');
  });

  it('refuses metadata nested 10,000 deep (it used to be a 500)', async () => {
    const deep = `${'{"d":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const res = await rest('POST', '/v1/agents/corpus/examples', JSON.stringify(example({ metadata: 'DEEP' })).replace('"DEEP"', deep));
    expect(res.status).toBe(400);
    expect(res.error!.message).toContain('EXEMPLAR_MAX_JSON_DEPTH');
  });

  it('refuses NUL and bad percent-encoding in a path or query string, naming the field', async () => {
    const before = await snapshot(t.app);
    for (const [p, field] of [
      ['/v1/agents/a%00b', 'agent'],
      ['/v1/agents/%', 'agent'],
      ['/v1/agents/%ZZ', 'agent'],
      ['/v1/examples/%E0%A4%A', 'id'],
      ['/v1/agents/corpus/examples?contains=%ZZ', 'contains'],
      ['/v1/agents/corpus/examples?contains=a%00b', 'contains'],
      ['/v1/agents/corpus/examples?contains=%FF', 'contains'],
    ] as const) {
      const res = await rest('GET', p);
      expect(res.status, p).toBe(400);
      expect(res.error!.details?.field, p).toBe(field);
    }
    const patched = await rest('PATCH', '/v1/agents/%E0', { description: 'x' });
    expect(patched.status).toBe(400);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('refuses a body that is not UTF-8 (it used to become U+FFFD)', async () => {
    const body = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const res = await raw({ method: 'POST', path: '/v1/agents', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('invalid_encoding');
  });
});

describe('request body limits, before reading and before authentication', () => {
  const big = (bytes: number) => JSON.stringify({ name: 'big', description: 'x'.repeat(bytes) });

  it('answers an over-long Content-Length with 413 before authentication, on every path', async () => {
    for (const p of ['/healthz', '/v1/agents', '/mcp']) {
      const res = await raw({ method: 'POST', path: p, headers: { authorization: '', 'content-type': 'application/json' }, body: big(300 * 1024) });
      expect(res.status, p).toBe(413);
      expect(JSON.parse(res.body).error).toMatchObject({ code: 'body_too_large', details: { limit: 256 * 1024, variable: 'EXEMPLAR_MAX_BODY_BYTES' } });
    }
  });

  it('counts the bytes of a chunked body as they arrive, and stops at the limit', async () => {
    for (const p of ['/v1/agents', '/mcp']) {
      let sent = 0;
      const body = new ReadableStream({
        pull(c) {
          if (sent >= 8 * 1024 * 1024) return c.close();
          sent += 64 * 1024;
          c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        },
      });
      const res = await fetch(`${server.url}${p}`, { method: 'POST', body, duplex: 'half', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } } as RequestInit);
      expect(res.status, p).toBe(413);
      expect((await res.json()).error.details.variable).toBe('EXEMPLAR_MAX_BODY_BYTES');
      expect(sent, p).toBeLessThan(8 * 1024 * 1024); // the client stopped sending: the server did not read it all
    }
  });

  it('does not read a body before the key is checked', async () => {
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent >= 8 * 1024 * 1024) return c.close();
        sent += 64 * 1024;
        c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const res = await fetch(`${server.url}/v1/agents`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(401);
  });

  it('gives the import route its own, larger limit', async () => {
    const line = (i: number) => JSON.stringify({ prompt: `import ${i} ${'x'.repeat(900)}`, completion: 'c', reward_score: 0.5, example_type: 'positive' });
    const data = Array.from({ length: 400 }, (_, i) => line(i)).join('\n');
    expect(data.length).toBeGreaterThan(256 * 1024);
    await t.app.agents.create({ name: 'importer' }, ACTOR);
    const ok = await fetch(`${server.url}/v1/agents/importer/examples/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data }),
    });
    expect(ok.status).toBe(200);
    expect((await ok.json()).added).toBe(400);
    const tooBig = await rest('POST', '/v1/agents/importer/examples/import', { data: `${data}\n${data}\n${data}` });
    expect(tooBig.status).toBe(413);
    expect(tooBig.error).toMatchObject({ code: 'body_too_large', details: { variable: 'EXEMPLAR_MAX_IMPORT_BYTES', limit: 1024 * 1024 } });
    await t.app.agents.delete('importer', ACTOR);
  });
});

describe('the Host header (DNS rebinding)', () => {
  it('answers localhost, the bound address and EXEMPLAR_ALLOWED_HOSTS, with any port', async () => {
    const { port } = new URL(server.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`, 'exemplar.test', 'EXEMPLAR.TEST:8080']) {
      expect((await raw({ path: '/v1/agents', host })).status, host).toBe(200);
    }
  });

  it('refuses another host with 403 naming it and EXEMPLAR_ALLOWED_HOSTS, on REST, MCP and the UI', async () => {
    for (const [method, p] of [['GET', '/v1/agents'], ['POST', '/mcp'], ['GET', '/'], ['GET', '/metrics']] as const) {
      const res = await raw({ method, path: p, host: 'attacker.example:8787', headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect(res.status, p).toBe(403);
      const error = JSON.parse(res.body).error;
      expect(error.code).toBe('forbidden_host');
      expect(error.message).toContain('attacker.example');
      expect(error.message).toContain('EXEMPLAR_ALLOWED_HOSTS=attacker.example');
    }
    // Load balancers' health checks come by any name.
    expect((await raw({ path: '/healthz', host: 'lb.internal' })).status).toBe(200);
  });

  it('refuses a malformed Host header with 400 (it used to be a 500)', async () => {
    for (const host of ['a b', 'x:99999', '[::1', 'user@host', 'a/b', '']) {
      const res = await raw({ path: '/v1/agents', host });
      expect(res.status, JSON.stringify(host)).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe('bad_host');
    }
  });

  it('when bound to every interface, answers this machine\'s addresses and name too', async () => {
    const wide = await startHttpServer(t.app, { host: '0.0.0.0', port: 0 });
    try {
      const { port } = new URL(wide.url);
      const own = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
      const get = (host: string) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path: '/v1/agents', setHost: false, headers: { authorization: `Bearer ${admin}` } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          req.setHeader('host', host);
          req.on('error', reject);
          req.end();
        });
      expect(await get(`127.0.0.1:${port}`)).toBe(200);
      expect(await get(`${os.hostname()}:${port}`)).toBe(200);
      if (own) expect(await get(`${own}:${port}`)).toBe(200);
      expect(await get(`attacker.example:${port}`)).toBe(403);
    } finally {
      await wide.close();
    }
  });
});

describe('malformed input on the MCP door (official SDK client)', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s as a tool error naming the field', async (_, c) => {
    const before = await data();
    const args: Record<string, unknown> = { ...c.input };
    const op = findOperation(c.tool)!;
    if ('agent' in op.input.shape) args.agent ??= 'corpus';
    if ('id' in op.input.shape) args.id ??= exampleId;
    const r = await mcp.callTool({ name: c.tool, arguments: args });
    expect(r.isError, JSON.stringify(r.content)).toBe(true);
    const text = (r.content as { text: string }[])[0].text;
    if (c.field) expect(text).toContain(`${c.field}`);
    for (const word of c.says ?? []) expect(text).toContain(word);
    expect(await data()).toEqual(before);
  });

  it('refuses arguments nested 100,000 deep, sent as raw JSON (the SDK client cannot serialise them)', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const rawFetch = ((url: URL, init?: RequestInit) =>
      fetch(url, { ...init, body: typeof init?.body === 'string' ? init.body.replace('"__DEEP__"', deep) : init?.body })) as typeof fetch;
    const c = new Client({ name: 'corpus-deep', version: '1.0.0' });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { fetch: rawFetch, requestInit: { headers: { Authorization: `Bearer ${admin}` } } }));
    try {
      const before = await data();
      const r = await c.callTool({ name: 'add_example', arguments: { agent: 'corpus', ...example({ metadata: { x: '__DEEP__' } }) } });
      expect(r.isError).toBe(true);
      expect((r.content as { text: string }[])[0].text).toMatch(/^metadata\.x\.0\.0.*EXEMPLAR_MAX_JSON_DEPTH/);
      expect(await data()).toEqual(before);
    } finally {
      await c.close();
    }
  });

  it('refuses NUL and bad percent-encoding in resources and prompts, without a database message', async () => {
    for (const uri of ['exemplar://agents/a%00b/prompt', 'exemplar://agents/%ZZ/prompt']) {
      const err = await mcp.readResource({ uri }).then(() => undefined, (e: Error) => e);
      expect(err?.message, uri).toMatch(/(agent|name): .*(NUL|percent-encoding)/);
    }
    const prompt = await mcp.getPrompt({ name: 'few_shot', arguments: { agent: 'corpus\u0000', task: 'x' } }).then(() => undefined, (e: Error) => e);
    expect(prompt?.message).toContain('agent: contains a NUL character');
    expect(prompt?.message).not.toContain('invalid byte sequence');
  });

  it('refuses NUL and lone surrogates in a name used to look an agent up', async () => {
    for (const agent of ['a\u0000b', 'x\ud800']) {
      const r = await mcp.callTool({ name: 'get_agent', arguments: { agent } });
      expect(r.isError).toBe(true);
      expect((r.content as { text: string }[])[0].text).toMatch(/^agent: contains/);
    }
  });
});

describe('malformed input on the CLI door', () => {
  const BIN = path.resolve('bin/exemplar.js');
  let env: Awaited<ReturnType<typeof cliEnv>>;
  let tmp: string;
  beforeAll(async () => {
    env = await cliEnv();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-corpus-'));
  });
  afterAll(async () => {
    await env?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  // Not spawnSync: this process also runs the server, whose keep-alive timers must not stall.
  const cli = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const { DATABASE_URL: _, ...parentEnv } = process.env;
      execFile(process.execPath, [BIN, ...args], { env: { ...parentEnv, ...env.env, EXEMPLAR_MAX_JSON_DEPTH: '16' } }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });

  it('names the line of an import holding a NUL or nested too deep, and imports nothing', async () => {
    expect((await cli(['agents', 'create', 'cli-corpus'])).code).toBe(0);
    const file = path.join(tmp, 'bad.jsonl');
    const good = '{"prompt":"fine","completion":"c","reward_score":1,"example_type":"positive"}';
    fs.writeFileSync(file, `${good}\n{"prompt":"a\\u0000","completion":"c","reward_score":1,"example_type":"positive"}\n{"prompt":"b","completion":"c","reward_score":1,"example_type":"positive","metadata":${'['.repeat(5000)}${']'.repeat(5000)}}\n`);
    const r = await cli(['examples', 'import', file, '--agent', 'cli-corpus']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('line 2: prompt: contains a NUL character');
    expect(r.stderr).toContain('line 3: metadata');
    expect(r.stderr).toContain('EXEMPLAR_MAX_JSON_DEPTH');
    expect(r.stderr).not.toMatch(/call stack|invalid byte sequence/);
    expect(JSON.parse((await cli(['--json', 'agents', 'show', 'cli-corpus'])).stdout).exampleCount).toBe(0);
  });

  it('names the line of a raw NUL in a file, the flag of a deep --metadata, and shows 1e309 as it is', async () => {
    const file = path.join(tmp, 'nul.csv');
    fs.writeFileSync(file, 'prompt,completion,reward_score,example_type\nq,a,1,positive\nq\u0000,a,1,positive\n');
    const nul = await cli(['examples', 'import', file, '--agent', 'cli-corpus']);
    expect(nul.code).toBe(2);
    expect(nul.stderr).toContain('line 3: data: contains a NUL character');
    const deep = await cli(['examples', 'add', '--agent', 'cli-corpus', '--prompt', 'p', '--completion', 'c', '--reward', '1e309', '--type', 'positive']);
    expect(deep.code).toBe(2);
    expect(deep.stderr).toContain('--reward: must be a finite number, got Infinity');
    const meta = await cli(['examples', 'add', '--agent', 'cli-corpus', '--prompt', 'p', '--completion', 'c', '--reward', '1', '--type', 'positive', '--metadata', JSON.stringify(nested(100))]);
    expect(meta.code).toBe(2);
    expect(meta.stderr).toContain('EXEMPLAR_MAX_JSON_DEPTH');
  });

  it('lets the local user point an agent at a model folder anywhere (refused over the network)', async () => {
    const r = await cli(['--json', 'agents', 'create', 'local-model', '--model', `transformers:${path.join(tmp, 'my-model')}@384`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).embeddingModel).toContain('my-model');
  });
});

describe('the server log', () => {
  it('records an unexpected error without the query parameters (users\' prompts)', async () => {
    const secret = 'a-user-prompt-that-must-not-be-logged';
    const dbError = await t.app.db.query('SELECT 1 / 0 WHERE $1::text IS NOT NULL', [secret]).then(() => undefined, (err: unknown) => err);
    expect(dbError).toBeInstanceOf(Error);
    expect(describeUnexpected(dbError)).toContain('division by zero');
    expect(describeUnexpected(dbError)).toContain('22012');
    expect(describeUnexpected(dbError)).not.toContain(secret);

    const logged: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    const writes = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (logged.push(String(chunk)), true));
    const add = vi.spyOn(t.app.examples, 'add').mockRejectedValue(dbError);
    try {
      const res = await rest('POST', '/v1/agents/corpus/examples', example({ prompt: secret }));
      expect(res.status).toBe(500);
      const r = await mcp.callTool({ name: 'add_example', arguments: { agent: 'corpus', ...example({ prompt: secret }) } });
      expect(r.isError).toBe(true);
    } finally {
      add.mockRestore();
      spy.mockRestore();
      writes.mockRestore();
    }
    expect(logged.join('\n')).toContain('division by zero');
    expect(logged.join('\n')).not.toContain(secret);
  });
});
