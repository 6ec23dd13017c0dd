import { z } from 'zod';
import type { Access } from '../access/access.ts';
import { describeUnexpected, errorBody, ExemplarError, ValidationError } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { invoke } from '../operations/invoke.ts';
import type { Operation } from '../operations/operation.ts';
import { operations } from '../operations/registry.ts';
import { fromText, inputFields, type FieldSchema } from '../operations/text-input.ts';

interface Route {
  op: Operation;
  method: string;
  pattern: RegExp;
  params: string[];
  /** The input's fields as JSON Schema, computed once: each request reads text into them. */
  fields: Record<string, FieldSchema>;
}

/** The REST door: one route per operation that names one (`op.http`), all through `invoke`. */
export class RestApi {
  private readonly routes: Route[];

  constructor(
    private readonly app: Exemplar,
    private readonly observe?: (operation: string, seconds: number, outcome: 'ok' | 'error') => void,
  ) {
    this.routes = restOperations().map((op) => {
      const params = [...op.http!.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const pattern = new RegExp(`^${op.http!.path.replace(/\{\w+\}/g, '([^/]+)')}$`);
      return { op, method: op.http!.method, pattern, params, fields: inputFields(op).fields };
    });
  }

  /** The route pattern a path matches, for metrics labels (never the raw path: it holds ids). */
  routeOf(method: string, path: string): string | undefined {
    return this.routes.find((r) => r.method === method && r.pattern.test(path))?.op.http?.path;
  }

  /** Whether a path belongs to this API (so the server can answer 404 or 405 itself otherwise). */
  owns(path: string): boolean {
    return path.startsWith('/v1/');
  }

  async handle(request: Request, access: Access): Promise<Response> {
    const url = new URL(request.url);
    const matches = this.routes.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m);
    if (matches.length === 0) return problem(404, 'not_found', `no route ${request.method} ${url.pathname} (see /openapi.json)`);
    const hit = matches.find((x) => x.r.method === request.method);
    if (!hit) {
      const allowed = matches.map((x) => x.r.method).join(', ');
      const res = problem(405, 'method_not_allowed', `${url.pathname} takes ${allowed}, not ${request.method}`);
      res.headers.set('allow', allowed);
      return res;
    }
    const { op, params, fields } = hit.r;
    try {
      const input = await readInput(request, url, fields);
      if (input instanceof Response) return input;
      params.forEach((name, i) => {
        input[name] = fromText(decodePart(hit.m![i + 1], name), fields[name] ?? {}, name);
      });
      const door = request.headers.get('x-exemplar-client') === 'ui' ? 'ui' : 'rest';
      const output = await invoke(op, input, { app: this.app, access, actor: access.keyId ? `key:${access.keyId}` : 'http', door, observe: this.observe });
      return Response.json(output);
    } catch (err) {
      if (!(err instanceof ExemplarError)) console.error(`exemplar: ${op.name} failed: ${describeUnexpected(err)}`);
      const status = err instanceof ExemplarError ? err.status : 500;
      const res = Response.json({ error: err instanceof ExemplarError ? errorBody(err) : { code: 'internal', message: 'internal error (see the server log)' } }, { status });
      const retryAfter = err instanceof ExemplarError ? err.details.retryAfterSeconds : undefined;
      if (typeof retryAfter === 'number') res.headers.set('retry-after', String(retryAfter)); // a rate limit: when to come back
      return res;
    }
  }
}

/** A request's input: from the query string for GET, else from the JSON body; or the 400 that says why not. */
async function readInput(request: Request, url: URL, fields: Record<string, FieldSchema>): Promise<Record<string, unknown> | Response> {
  const input: Record<string, unknown> = {};
  if (request.method === 'GET') {
    // Decoded here rather than by URLSearchParams, which turns bad percent-encoding into U+FFFD silently.
    for (const pair of url.search.slice(1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decodePart(eq < 0 ? pair : pair.slice(0, eq), 'query parameter', true);
      const value = eq < 0 ? '' : decodePart(pair.slice(eq + 1), key, true);
      if (key in fields) input[key] = fromText(value, fields[key], key);
    }
    return input;
  }
  let text: string;
  try {
    text = utf8.decode(await request.arrayBuffer());
  } catch {
    return problem(400, 'invalid_encoding', 'the request body is not valid UTF-8');
  }
  if (text.trim() === '') return input;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return problem(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return problem(400, 'invalid_json', 'the request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One percent-encoded part of a URL (`+` is a space in a query string), or a 400 naming the field. */
function decodePart(raw: string, field: string, query = false): string {
  try {
    return decodeURIComponent(query ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    throw new ValidationError(field, `${JSON.stringify(raw.slice(0, 60))} is not valid percent-encoding (a % must be followed by two hex digits, and the bytes must be UTF-8)`);
  }
}

export function restOperations(): Operation[] {
  return operations.filter((op) => op.http && (!op.doors || op.doors.includes('http')));
}

function problem(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

/** The OpenAPI 3.1 document of the REST door, generated from the same operations. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of restOperations()) {
    const { method, path } = op.http!;
    const input = z.toJSONSchema(op.input, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as {
      properties?: Record<string, Record<string, unknown>>;
      required?: string[];
    };
    const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    const props = input.properties ?? {};
    const required = new Set(input.required ?? []);
    const parameters = [
      ...pathParams.map((name) => ({ name, in: 'path', required: true, schema: props[name] ?? { type: 'string' } })),
      ...(method === 'GET'
        ? Object.entries(props)
            .filter(([name]) => !pathParams.includes(name))
            .map(([name, schema]) => ({ name, in: 'query', required: required.has(name), schema, description: schema.description }))
        : []),
    ];
    const bodyProps = Object.fromEntries(Object.entries(props).filter(([name]) => !pathParams.includes(name)));
    const bodyRequired = [...required].filter((name) => !pathParams.includes(name));
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = {
      operationId: op.name,
      summary: op.title,
      description: op.description,
      ...(parameters.length ? { parameters } : {}),
      ...(method !== 'GET' && Object.keys(bodyProps).length
        ? { requestBody: { required: bodyRequired.length > 0, content: { 'application/json': { schema: { type: 'object', properties: bodyProps, required: bodyRequired } } } } }
        : {}),
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: z.toJSONSchema(op.output, { target: 'draft-2020-12' }) } } },
        default: { description: 'An error: 400 invalid input, 401 no valid key, 403 not allowed, 404 not found, 409 conflict', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Exemplar API', version: '0.1.0', description: "AI agents' training examples, prompts and fine-tuning runs. Every route needs Authorization: Bearer <API key>." },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from `exemplar keys create`' } },
      schemas: {
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } }, required: ['code', 'message'] } },
          required: ['error'],
        },
      },
    },
  };
}
