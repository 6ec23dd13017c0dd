import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { ANTHROPIC_DEFAULT_MODEL, AnthropicProvider } from '../../src/llm/anthropic.ts';
import { LlmProviderError } from '../../src/llm/errors.ts';
import { OPENAI_CHAT_DEFAULT_MODEL, OpenAIChatProvider } from '../../src/llm/openai.ts';
import {
  createLlmProvider,
  defaultProviderName,
  loadLlmConfig,
  type LlmProvider,
  type LlmProviderOptions,
} from '../../src/llm/provider.ts';
import { startLocalAnthropic, startLocalOpenAIChat, type LocalLlmServer } from './llm-servers.ts';

let anthropic: LocalLlmServer;
let openai: LocalLlmServer;
beforeAll(async () => {
  [anthropic, openai] = await Promise.all([startLocalAnthropic(), startLocalOpenAIChat()]);
});
afterAll(() => Promise.all([anthropic.close(), openai.close()]));
beforeEach(() => {
  anthropic.reset();
  openai.reset();
});

/** Awaits a promise that must reject with an LlmProviderError, and returns the error. */
async function failure(promise: Promise<unknown>): Promise<LlmProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LlmProviderError);
  return err as LlmProviderError;
}

/** Everything about an error a user or a log could ever see. */
const everything = (err: LlmProviderError) => [err.message, JSON.stringify(err), JSON.stringify(err.toJSON()), String(err.stack), inspect(err)].join('\n');

// The same behaviour is required of both providers; only the wire format differs.
const cases = [
  {
    name: 'anthropic',
    server: () => anthropic,
    keyVar: 'ANTHROPIC_API_KEY',
    overloaded: 529,
    make: (o: LlmProviderOptions = {}): LlmProvider =>
      new AnthropicProvider({ apiKey: anthropic.apiKey!, baseURL: anthropic.baseURL, retryBaseDelayMs: 5, ...o }),
  },
  {
    name: 'openai',
    server: () => openai,
    keyVar: 'OPENAI_API_KEY',
    overloaded: 503,
    make: (o: LlmProviderOptions = {}): LlmProvider =>
      new OpenAIChatProvider({ apiKey: openai.apiKey!, baseURL: openai.baseURL, retryBaseDelayMs: 5, ...o }),
  },
] as const;

describe.each(cases)('$name provider', ({ name, server, keyVar, overloaded, make }) => {
  it('returns the text, the model that answered and the token usage', async () => {
    server().reply = ({ prompt }) => ({ text: `Answer to ${prompt}`, model: 'served-model-2', inputTokens: 17, outputTokens: 5 });
    const reply = await make({ model: 'asked-model' }).complete({ system: 'Be brief.', prompt: 'hello there' });
    expect(reply).toMatchObject({ text: 'Answer to hello there', model: 'served-model-2', usage: { inputTokens: 17, outputTokens: 5 } });
    expect(server().requests).toHaveLength(1);
    expect(server().requests[0].body.model).toBe('asked-model');
  });

  it('lets a test script the reply, e.g. a tagged prompt inside other text', async () => {
    server().reply = ({ system }) => `Here you go.\n<improved_prompt>${system} Cite sources.</improved_prompt>\nDone.`;
    const reply = await make().complete({ system: 'You help.', prompt: 'improve it' });
    expect(reply.text).toContain('<improved_prompt>You help. Cite sources.</improved_prompt>');
  });

  it('gives the API message of a 400 and does not retry it', async () => {
    server().failures.push({ status: 400, message: 'max_tokens: must be at most 8192' });
    const err = await failure(make().complete({ prompt: 'x', maxTokens: 100_000 }));
    expect(err.message).toContain('HTTP 400');
    expect(err.message).toContain('max_tokens: must be at most 8192');
    expect(err.toJSON()).toMatchObject({ code: 'llm_provider_error', details: { provider: name, status: 400, attempts: 1 } });
    expect(err.status).toBe(502);
    expect(server().requests).toHaveLength(1);
  });

  it('retries a 429 and honours its retry-after', async () => {
    // A base delay of 60 s would time the test out: only the server's 1 ms wait keeps it fast.
    server().failures.push({ status: 429, headers: { 'retry-after-ms': '1' } }, { status: 429, headers: { 'retry-after': '0' } });
    const started = Date.now();
    const reply = await make({ retryBaseDelayMs: 60_000 }).complete({ prompt: 'rate limited' });
    expect(reply.text).toBe('You said: rate limited');
    expect(server().requests).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it(`retries a ${overloaded} (overloaded) and a 500 with backoff`, async () => {
    server().failures.push({ status: overloaded }, { status: 500 });
    const reply = await make().complete({ prompt: 'busy' });
    expect(reply.text).toBe('You said: busy');
    expect(server().requests).toHaveLength(3);
  });

  it('gives up after maxRetries and says how often it tried', async () => {
    server().failures.push({ status: overloaded }, { status: overloaded }, { status: overloaded }, { status: overloaded });
    const err = await failure(make({ maxRetries: 2 }).complete({ prompt: 'busy' }));
    expect(err.message).toMatch(new RegExp(`HTTP ${overloaded}\\) after 3 attempts`));
    expect(server().requests).toHaveLength(3);
  });

  it(`says to set ${keyVar} on 401, and never shows the key`, async () => {
    const key = `sk-WRONG-${name}-key-4f8a9c2e1d`;
    const provider = make({ apiKey: key });
    const err = await failure(provider.complete({ prompt: 'hi' }));
    expect(err.message).toContain('401');
    expect(err.message).toContain(keyVar);
    expect(err.details).toMatchObject({ status: 401, envVar: keyVar });
    expect(everything(err)).not.toContain(key);
    expect(everything(err)).not.toContain('4f8a9c2e1d');
    // The key reached the server (it echoed it back), and no retry was made.
    expect(server().requests).toHaveLength(1);
    // Neither is the provider itself a way to leak it.
    expect(JSON.stringify(provider)).not.toContain(key);
    expect(inspect(provider, { depth: 10, showHidden: true })).not.toContain(key);
  });

  it('scrubs the key from any message the API sends back', async () => {
    server().failures.push({ status: 400, message: `bad request from ${server().apiKey}` });
    const err = await failure(make().complete({ prompt: 'x' }));
    expect(err.message).toContain('bad request from ***');
    expect(everything(err)).not.toContain(server().apiKey!);
  });

  it('times out a slow reply, retries it, and explains the timeout when retries run out', async () => {
    server().failures.push({ delayMs: 3_000 });
    const reply = await make({ timeoutMs: 300, maxRetries: 1 }).complete({ prompt: 'slow' });
    expect(reply.text).toBe('You said: slow');

    server().failures.push({ delayMs: 3_000 });
    const err = await failure(make({ timeoutMs: 300, maxRetries: 0 }).complete({ prompt: 'slow' }));
    expect(err.message).toContain('no reply within 300 ms');
    expect(err.message).toContain('EXEMPLAR_LLM_TIMEOUT_MS');
  });

  it('explains a server that cannot be reached', async () => {
    const err = await failure(make({ baseURL: 'http://127.0.0.1:1/v1', maxRetries: 1 }).complete({ prompt: 'x' }));
    expect(err.message).toContain('could not reach the server after 2 attempts');
  });
});

describe('Anthropic wire format', () => {
  it('puts the system prompt at the top level and the prompt in one user message', async () => {
    const p = new AnthropicProvider({ apiKey: anthropic.apiKey!, baseURL: anthropic.baseURL });
    const reply = await p.complete({ system: 'You are terse.', prompt: 'Say hi', maxTokens: 321, temperature: 0.2 });
    const { body, headers } = anthropic.requests[0];
    expect(body).toEqual({ model: ANTHROPIC_DEFAULT_MODEL, max_tokens: 321, system: 'You are terse.', messages: [{ role: 'user', content: 'Say hi' }] });
    // The installed SDK speaks API version 2026-10-21, which takes the key as a Bearer token.
    expect(headers['x-api-key'] ?? headers.authorization).toMatch(new RegExp(`^(Bearer )?${anthropic.apiKey}$`));
    expect(headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(reply).toEqual({ text: 'You said: Say hi', model: ANTHROPIC_DEFAULT_MODEL, usage: { inputTokens: 5, outputTokens: 4 }, stopReason: 'end_turn' });
  });

  it('sends no system field without a system prompt, and a default max_tokens', async () => {
    await new AnthropicProvider({ apiKey: anthropic.apiKey!, baseURL: anthropic.baseURL }).complete({ prompt: 'p' });
    expect(anthropic.requests[0].body).not.toHaveProperty('system');
    expect(anthropic.requests[0].body.max_tokens).toBe(4096);
  });

  it('refuses to call api.anthropic.com without a key, naming ANTHROPIC_API_KEY', async () => {
    const err = await failure(new AnthropicProvider({}).complete({ prompt: 'x' }));
    expect(err.message).toContain('ANTHROPIC_API_KEY');
    expect(err.message).toContain('https://api.anthropic.com');
  });
});

describe('OpenAI chat wire format', () => {
  it('sends the system prompt as a system message before the user message', async () => {
    const p = new OpenAIChatProvider({ apiKey: openai.apiKey!, baseURL: openai.baseURL });
    const reply = await p.complete({ system: 'You are terse.', prompt: 'Say hi', maxTokens: 321, temperature: 0.2 });
    const { body, headers } = openai.requests[0];
    // A compatible server gets max_tokens, the field they all know.
    expect(body).toEqual({
      model: OPENAI_CHAT_DEFAULT_MODEL,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hi' },
      ],
      max_tokens: 321,
      temperature: 0.2,
    });
    expect(headers.authorization).toBe(`Bearer ${openai.apiKey}`);
    expect(reply).toEqual({ text: 'You said: Say hi', model: OPENAI_CHAT_DEFAULT_MODEL, usage: { inputTokens: 5, outputTokens: 4 }, stopReason: 'stop' });
  });

  it('sends only the user message without a system prompt', async () => {
    await new OpenAIChatProvider({ apiKey: openai.apiKey!, baseURL: openai.baseURL }).complete({ prompt: 'p' });
    expect(openai.requests[0].body.messages).toEqual([{ role: 'user', content: 'p' }]);
    expect(openai.requests[0].body).not.toHaveProperty('temperature');
  });

  it('sends a placeholder key to a local server when no key is set', async () => {
    const local = await startLocalOpenAIChat({ apiKey: null }); // like Ollama: any key will do
    try {
      const reply = await new OpenAIChatProvider({ baseURL: local.baseURL }).complete({ prompt: 'offline' });
      expect(reply.text).toBe('You said: offline');
      expect(local.requests[0].headers.authorization).toMatch(/^Bearer \S+/);
    } finally {
      await local.close();
    }
  });

  it('refuses to call api.openai.com without a key, naming OPENAI_API_KEY', async () => {
    const err = await failure(new OpenAIChatProvider({}).complete({ prompt: 'x' }));
    expect(err.message).toContain('OPENAI_API_KEY');
  });
});

describe('LLM configuration', () => {
  it('reads keys, base URLs, model and timeout from the environment', () => {
    expect(
      loadLlmConfig({
        ANTHROPIC_API_KEY: ' a-key ',
        ANTHROPIC_BASE_URL: 'http://proxy:8080',
        OPENAI_API_KEY: 'o-key',
        OPENAI_BASE_URL: 'http://localhost:11434/v1',
        EXEMPLAR_LLM_MODEL: 'my-model',
        EXEMPLAR_LLM_TIMEOUT_MS: '5000',
      }),
    ).toEqual({
      anthropicApiKey: 'a-key',
      anthropicBaseUrl: 'http://proxy:8080',
      openaiApiKey: 'o-key',
      openaiBaseUrl: 'http://localhost:11434/v1',
      model: 'my-model',
      timeoutMs: 5000,
    });
    expect(loadLlmConfig({ ANTHROPIC_API_KEY: '' })).toEqual({ timeoutMs: 120_000 });
  });

  it('rejects a timeout that is not a positive integer', () => {
    expect(() => loadLlmConfig({ EXEMPLAR_LLM_TIMEOUT_MS: 'soon' })).toThrow(ValidationError);
    expect(() => loadLlmConfig({ EXEMPLAR_LLM_TIMEOUT_MS: '0' })).toThrow(/EXEMPLAR_LLM_TIMEOUT_MS/);
  });

  it('defaults to anthropic, then openai, then the heuristic', () => {
    const name = (env: NodeJS.ProcessEnv) => defaultProviderName(loadLlmConfig(env));
    expect(name({ ANTHROPIC_API_KEY: 'a', OPENAI_API_KEY: 'o' })).toBe('anthropic');
    expect(name({ OPENAI_API_KEY: 'o' })).toBe('openai');
    expect(name({ OPENAI_BASE_URL: 'http://localhost:11434/v1' })).toBe('openai');
    expect(name({})).toBe('heuristic');
  });

  it('picks the model: the argument, else EXEMPLAR_LLM_MODEL, else the default', () => {
    const config = loadLlmConfig({});
    expect(createLlmProvider('anthropic', config).model).toBe(ANTHROPIC_DEFAULT_MODEL);
    expect(createLlmProvider('openai', config).model).toBe(OPENAI_CHAT_DEFAULT_MODEL);
    const withModel = loadLlmConfig({ EXEMPLAR_LLM_MODEL: 'env-model' });
    expect(createLlmProvider('openai', withModel).model).toBe('env-model');
    expect(createLlmProvider('anthropic', withModel, 'arg-model')).toMatchObject({ name: 'anthropic', model: 'arg-model' });
    expect(() => createLlmProvider('gemini' as 'openai', config)).toThrow(ValidationError);
  });

  it('builds providers that talk to the configured servers', async () => {
    const config = {
      ...loadLlmConfig({
        ANTHROPIC_API_KEY: anthropic.apiKey!,
        ANTHROPIC_BASE_URL: anthropic.baseURL,
        OPENAI_API_KEY: openai.apiKey!,
        OPENAI_BASE_URL: openai.baseURL,
      }),
      retryBaseDelayMs: 5,
    };
    anthropic.failures.push({ status: 529 });
    expect((await createLlmProvider('anthropic', config).complete({ prompt: 'a' })).text).toBe('You said: a');
    expect((await createLlmProvider('openai', config, 'llama3.2').complete({ prompt: 'o' })).model).toBe('llama3.2');
    expect(anthropic.requests).toHaveLength(2);
  });
});
