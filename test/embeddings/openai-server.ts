import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the server received: the JSON body and the Authorization header. */
export interface SeenRequest {
  body: { model: string; input: string[]; encoding_format?: string; dimensions?: number };
  authorization: string | undefined;
}

/** A canned failure to answer the next request with, instead of embeddings. */
export interface Failure {
  status: number;
  headers?: Record<string, string>;
}

/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI's POST /v1/embeddings wire format, so
 * tests drive the official SDK over the network as in production.
 */
export interface LocalOpenAI {
  /** The base URL to give the SDK, ending in /v1. */
  baseURL: string;
  requests: SeenRequest[];
  /** Answered in order, one per request, before normal answers resume. */
  failures: Failure[];
  close(): Promise<void>;
}

export const TEST_API_KEY = 'sk-test-SECRET-0123456789';

/** The vector the server returns for `text`: deterministic, and deliberately not unit length. */
export function serverVector(text: string, dims: number): number[] {
  const seed = createHash('sha256').update(text).digest().readUInt32LE(0);
  return Array.from({ length: dims }, (_, j) => 3 * Math.sin(seed + j * 1.7));
}

export function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

export async function startLocalOpenAI(options: { apiKey?: string; defaultDimensions?: number } = {}): Promise<LocalOpenAI> {
  const apiKey = options.apiKey ?? TEST_API_KEY;
  const state = { requests: [] as SeenRequest[], failures: [] as Failure[] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        send(404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      state.requests.push({ body, authorization: req.headers.authorization });
      const failure = state.failures.shift();
      if (failure) {
        send(failure.status, { error: { message: `simulated ${failure.status}`, type: 'server_error' } }, failure.headers);
        return;
      }
      const key = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (key !== apiKey) {
        // Like OpenAI, the message echoes the key it got: the client must not pass it on.
        send(401, {
          error: { message: `Incorrect API key provided: ${key}.`, type: 'invalid_request_error', code: 'invalid_api_key' },
        });
        return;
      }
      const dims = body.dimensions ?? options.defaultDimensions ?? 1536;
      const inputs: string[] = body.input;
      // Answer in reverse order: each item's `index` is what ties it to its input.
      const data = inputs
        .map((text, index) => ({ object: 'embedding', index, embedding: serverVector(text, dims) }))
        .reverse();
      const tokens = inputs.reduce((n, t) => n + t.split(/\s+/).length, 0);
      send(200, { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests: state.requests,
    failures: state.failures,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the SDK keeps connections alive
      }),
  };
}
