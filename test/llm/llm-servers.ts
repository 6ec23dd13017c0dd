import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Real HTTP servers on 127.0.0.1 that speak Anthropic's Messages API (POST /v1/messages) and
 * OpenAI's Chat Completions API (POST /v1/chat/completions), so tests drive the official SDKs over
 * the network as in production. Other tests script the model's answer with `reply`.
 */

/** One request a server received: the parsed JSON body and every header (lower-case names). */
export interface SeenLlmRequest {
  /** The wire body as sent; `any` because tests read fields of either format from it. */
  body: any;
  headers: http.IncomingHttpHeaders;
}

/** What the scripted model answers: just the text, or the text with the model and token counts. */
export type ScriptedReply = string | { text: string; model?: string; inputTokens?: number; outputTokens?: number; stopReason?: string };

/**
 * Computes the model's answer. `system` and `prompt` are pulled out of the wire format (system
 * prompt and the last user message), `request` is everything that arrived.
 */
export type ReplyFn = (input: { system: string | undefined; prompt: string; request: SeenLlmRequest }) => ScriptedReply;

/**
 * A canned answer for the next request, instead of the model's. With `status`, an error in the
 * API's format; without it, a normal answer. `delayMs` waits first (to provoke client timeouts).
 */
export interface ScriptedFailure {
  status?: number;
  /** The error's type; by default the API's usual type for the status. */
  type?: string;
  message?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface LocalLlmServer {
  /** Give this to the SDK: `http://127.0.0.1:PORT` for Anthropic, `.../v1` for OpenAI. */
  baseURL: string;
  /** The only key the server accepts; null when it accepts any (like Ollama). */
  apiKey: string | null;
  requests: SeenLlmRequest[];
  /** Answered in order, one per request, before normal answers resume. */
  failures: ScriptedFailure[];
  /** The model's behaviour; assign to script it. Default: echoes the prompt. */
  reply: ReplyFn;
  /** Clears requests and failures and restores the default reply. */
  reset(): void;
  close(): Promise<void>;
}

export const ANTHROPIC_TEST_KEY = 'sk-ant-test-SECRET-0123456789';
export const OPENAI_TEST_KEY = 'sk-test-chat-SECRET-0123456789';

const defaultReply: ReplyFn = ({ prompt }) => `You said: ${prompt}`;

/** A rough token count, so usage numbers are plausible and depend on the input. */
export const countTokens = (text: string) => (text.trim() === '' ? 0 : text.trim().split(/\s+/).length);

interface Handler {
  path: string;
  /** Checks the request; returns an error to send, or undefined if it may be answered. */
  check(req: SeenLlmRequest, apiKey: string | null): { status: number; type: string; message: string } | undefined;
  system(body: any): string | undefined;
  prompt(body: any): string;
  ok(body: any, reply: Exclude<ScriptedReply, string>, system: string | undefined, prompt: string): unknown;
  error(status: number, type: string, message: string): unknown;
  defaultType(status: number): string;
}

async function startServer(handler: Handler, apiKey: string | null, basePath: string, reply?: ReplyFn): Promise<LocalLlmServer> {
  const state = {
    requests: [] as SeenLlmRequest[],
    failures: [] as ScriptedFailure[],
    reply: reply ?? defaultReply,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        if (res.destroyed) return; // the client gave up (timeout) or the server closed
        res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${state.requests.length}`, ...headers });
        res.end(JSON.stringify(body));
      };
      const fail = (status: number, type: string, message: string, headers?: Record<string, string>) =>
        send(status, handler.error(status, type, message), headers);
      if (req.method !== 'POST' || req.url !== handler.path) {
        fail(404, handler.defaultType(404), `no route ${req.method} ${req.url}`);
        return;
      }
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        fail(400, handler.defaultType(400), 'the body is not valid JSON');
        return;
      }
      const seen: SeenLlmRequest = { body, headers: req.headers };
      state.requests.push(seen);
      const answer = () => {
        const problem = handler.check(seen, apiKey);
        if (problem) return fail(problem.status, problem.type, problem.message);
        const system = handler.system(body);
        const prompt = handler.prompt(body);
        const scripted = state.reply({ system, prompt, request: seen });
        const r = typeof scripted === 'string' ? { text: scripted } : scripted;
        send(200, handler.ok(body, r, system, prompt));
      };
      const failure = state.failures.shift();
      const respond = () => {
        if (failure?.status === undefined) return answer();
        const type = failure.type ?? handler.defaultType(failure.status);
        fail(failure.status, type, failure.message ?? `simulated ${failure.status} ${type}`, failure.headers);
      };
      if (failure?.delayMs) setTimeout(respond, failure.delayMs);
      else respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}${basePath}`,
    apiKey,
    requests: state.requests,
    failures: state.failures,
    get reply() {
      return state.reply;
    },
    set reply(fn: ReplyFn) {
      state.reply = fn;
    },
    reset() {
      state.requests.length = 0;
      state.failures.length = 0;
      state.reply = reply ?? defaultReply;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the SDKs keep connections alive
      }),
  };
}

/** Text of a message's content: a string, or the text blocks of a list. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (b?.type === 'text' ? String(b.text) : '')).join('');
  return '';
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

/** Anthropic's Messages API: the key (x-api-key or Bearer), anthropic-version, errors as {type:'error', error}. */
export function startLocalAnthropic(options: { apiKey?: string | null; reply?: ReplyFn } = {}): Promise<LocalLlmServer> {
  let n = 0;
  return startServer(
    {
      path: '/v1/messages',
      check({ body, headers }, apiKey) {
        // API version 2026-10-21 (SDK 1.x) sends the key as a Bearer token; older ones as x-api-key.
        const key = String(headers['x-api-key'] ?? String(headers.authorization ?? '').replace(/^Bearer /, ''));
        if (apiKey !== null && key !== apiKey) {
          // Echo the key, as some servers do: the client must never pass it on.
          return { status: 401, type: 'authentication_error', message: `invalid x-api-key: ${key}` };
        }
        if (!headers['anthropic-version']) {
          return { status: 400, type: 'invalid_request_error', message: 'anthropic-version: header is required' };
        }
        if (typeof body.model !== 'string' || body.model === '') {
          return { status: 400, type: 'invalid_request_error', message: 'model: Field required' };
        }
        if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
          return { status: 400, type: 'invalid_request_error', message: 'max_tokens: Field required' };
        }
        if (!Array.isArray(body.messages) || body.messages.length === 0) {
          return { status: 400, type: 'invalid_request_error', message: 'messages: at least one message is required' };
        }
        if (body.messages.some((m: any) => m.role === 'system')) {
          return { status: 400, type: 'invalid_request_error', message: 'messages: Unexpected role "system"; use the top-level system parameter' };
        }
        return undefined;
      },
      system: (body) => (body.system === undefined ? undefined : contentText(body.system)),
      prompt: (body) => contentText(body.messages.filter((m: any) => m.role === 'user').at(-1)?.content),
      ok: (body, r, system, prompt) => ({
        id: `msg_local_${++n}`,
        type: 'message',
        role: 'assistant',
        model: r.model ?? body.model,
        content: [{ type: 'text', text: r.text }],
        stop_reason: r.stopReason ?? 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: r.inputTokens ?? countTokens(`${system ?? ''} ${prompt}`),
          output_tokens: r.outputTokens ?? countTokens(r.text),
        },
      }),
      error: (_status, type, message) => ({ type: 'error', error: { type, message } }),
      defaultType: (status) => ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
    },
    options.apiKey === undefined ? ANTHROPIC_TEST_KEY : options.apiKey,
    '',
    options.reply,
  );
}

/** OpenAI's Chat Completions API: Bearer key, errors as {error: {message, type, code}}. */
export function startLocalOpenAIChat(options: { apiKey?: string | null; reply?: ReplyFn } = {}): Promise<LocalLlmServer> {
  let n = 0;
  return startServer(
    {
      path: '/v1/chat/completions',
      check({ body, headers }, apiKey) {
        const key = String(headers.authorization ?? '').replace(/^Bearer /, '');
        if (apiKey !== null && key !== apiKey) {
          // Like OpenAI, the message echoes the key it got: the client must not pass it on.
          return { status: 401, type: 'invalid_request_error', message: `Incorrect API key provided: ${key}.` };
        }
        if (typeof body.model !== 'string' || body.model === '') {
          return { status: 400, type: 'invalid_request_error', message: "you must provide a model parameter" };
        }
        if (!Array.isArray(body.messages) || body.messages.length === 0) {
          return { status: 400, type: 'invalid_request_error', message: "'messages' must contain at least one message" };
        }
        return undefined;
      },
      system: (body) => {
        const system = body.messages.filter((m: any) => m.role === 'system' || m.role === 'developer');
        return system.length ? system.map((m: any) => contentText(m.content)).join('\n') : undefined;
      },
      prompt: (body) => contentText(body.messages.filter((m: any) => m.role === 'user').at(-1)?.content),
      ok: (body, r, system, prompt) => {
        const prompt_tokens = r.inputTokens ?? countTokens(`${system ?? ''} ${prompt}`);
        const completion_tokens = r.outputTokens ?? countTokens(r.text);
        return {
          id: `chatcmpl-local${++n}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: r.model ?? body.model,
          choices: [
            { index: 0, message: { role: 'assistant', content: r.text, refusal: null }, logprobs: null, finish_reason: r.stopReason ?? 'stop' },
          ],
          usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
        };
      },
      error: (status, type, message) => ({
        error: {
          message,
          type,
          param: null,
          code: status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : null,
        },
      }),
      defaultType: (status) => (status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error'),
    },
    options.apiKey === undefined ? OPENAI_TEST_KEY : options.apiKey,
    '/v1',
    options.reply,
  );
}
