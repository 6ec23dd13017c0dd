import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nodePath from 'node:path';
import { AuthenticationError, FULL_ACCESS, type Access } from '../access/access.ts';
import { describeUnexpected, errorBody, ExemplarError } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { McpHttpHandler } from '../mcp/http.ts';
import { invoke } from '../operations/invoke.ts';
import { packageFile } from '../package-files.ts';
import { findOperation } from '../operations/registry.ts';
import { compress } from './compression.ts';
import { CHANNEL_PATH, channelTokenMatches, openLocalChannel } from './local-channel.ts';
import { docsPage } from './docs.ts';
import { Metrics } from './metrics.ts';
import { HostCheck } from './host.ts';
import { checkDeclaredLength, dropRestOfBody, readBody, sendResponse, toWebRequest, type BodyLimit } from './node-adapter.ts';
import { openApiDocument, RestApi } from './rest.ts';

export interface RunningServer {
  url: string;
  metrics: Metrics;
  close(): Promise<void>;
}

/** One line per request, as JSON. Never holds a key: only its id. */
export interface RequestLog {
  time: string;
  level: 'info' | 'error';
  requestId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  keyId?: string | null;
  error?: string;
}

/**
 * `exemplar serve`: the REST API under /v1 (described by /openapi.json and /docs), the MCP endpoint
 * /mcp, /metrics, /healthz and /readyz, and the web UI (ui/dist) at every other GET path. /v1 and /mcp
 * need a bearer API key and, from a browser, an allowed Origin.
 *
 * Before anything else, every request's Host header is checked (see HostCheck) and its declared
 * body size against its limit (EXEMPLAR_MAX_BODY_BYTES; EXEMPLAR_MAX_IMPORT_BYTES for the import
 * route and the local channel). A body is read only once the request is authenticated, and never
 * past its limit.
 */
export async function startHttpServer(
  app: Exemplar,
  opts: {
    host?: string;
    port?: number;
    log?: boolean | ((entry: RequestLog) => void);
    /** Let CLI commands of this user reach this server through `<data dir>/server.json` (see local-channel.ts). */
    localChannel?: boolean;
  } = {},
): Promise<RunningServer> {
  const metrics = new Metrics(app);
  const observe = (operation: string, seconds: number, outcome: 'ok' | 'error') => metrics.operations.observe({ operation, outcome }, seconds);
  const mcp = new McpHttpHandler(app, { observe, onToolCall: (tool, outcome) => metrics.toolCalls.inc({ tool, outcome }) });
  const rest = new RestApi(app, observe);
  const openapi = openApiDocument();
  const log = opts.log === true ? (e: RequestLog) => process.stderr.write(`${JSON.stringify(e)}\n`) : opts.log || undefined;
  const origins = app.config.allowedOrigins;
  let channel: ReturnType<typeof openLocalChannel> | undefined;
  let hosts: HostCheck | undefined;
  const bodyLimit = (method: string, path: string): BodyLimit =>
    path === CHANNEL_PATH || rest.routeOf(method, path) === IMPORT_ROUTE
      ? { bytes: app.config.maxImportBytes, variable: 'EXEMPLAR_MAX_IMPORT_BYTES' }
      : { bytes: app.config.maxBodyBytes, variable: 'EXEMPLAR_MAX_BODY_BYTES' };

  /** `request` has headers only; `withBody` reads the body (once authenticated) into a full Request. */
  const route = async (request: Request, path: string, seen: { keyId?: string | null }, withBody: () => Promise<Request>): Promise<Response> => {
    if (path === '/healthz') return Response.json({ status: 'ok' });
    if (path === '/readyz') {
      const ready = await app.db.query('SELECT 1').then(() => true, () => false);
      return Response.json({ status: ready ? 'ready' : 'database unreachable' }, { status: ready ? 200 : 503 });
    }
    if (path === '/metrics') {
      const { body, contentType } = await metrics.render();
      return new Response(body, { headers: { 'content-type': contentType } });
    }
    if (path === CHANNEL_PATH) return channelInvoke(request, withBody);
    if (path === '/openapi.json') return Response.json(openapi);
    if (path === '/docs') return new Response(docsPage(openapi), { headers: { 'content-type': 'text/html; charset=utf-8' } });
    // No OAuth here (bearer API keys): a client probing for OAuth metadata gets a clean 404, not the web UI.
    if (path.startsWith('/.well-known/')) return jsonError(404, 'not_found', `no ${path}: Exemplar takes an API key as a bearer token (exemplar keys create)`);
    if (uiOwns(request.method, path)) return serveUi(path);
    if (path !== '/mcp' && !rest.owns(path)) return jsonError(404, 'not_found', `no route ${request.method} ${path}`);
    const origin = request.headers.get('origin');
    if (origin && !originAllowed(origin, origins)) return jsonError(403, 'forbidden_origin', `origin ${origin} is not allowed (set EXEMPLAR_ALLOWED_ORIGINS)`);
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
    let access: Access;
    try {
      access = await app.apiKeys.authenticate(bearer);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      const response = jsonError(401, err.code, err.message);
      response.headers.set('www-authenticate', 'Bearer realm="exemplar"');
      return response;
    }
    seen.keyId = access.keyId;
    const full = await withBody();
    return path === '/mcp' ? mcp.handle(full, access) : rest.handle(full, access);
  };

  /**
   * What is refused before anything else: a Host header that is malformed (400) or not this server's
   * (403; health checks excepted, which load balancers send by any name), and a request target that
   * is not a path.
   */
  const refuse = (req: http.IncomingMessage, path: string): Response | undefined => {
    const bad = hosts?.check(req.headers.host);
    if (bad && (bad.status === 400 || (path !== '/healthz' && path !== '/readyz'))) return jsonError(bad.status, bad.code, bad.message);
    if (!req.url?.startsWith('/')) return jsonError(400, 'bad_request_target', 'the request target must be a path starting with /');
    return undefined;
  };

  /** A CLI command of the user who owns the data folder, run here with the CLI's full access. */
  const channelInvoke = async (request: Request, withBody: () => Promise<Request>): Promise<Response> => {
    if (!channel || request.method !== 'POST' || !channelTokenMatches(request.headers.get('authorization'), channel.token)) {
      return jsonError(404, 'not_found', `no route ${request.method} ${CHANNEL_PATH}`);
    }
    const body = (await (await withBody()).json().catch(() => ({}))) as { operation?: unknown; input?: unknown; actor?: unknown };
    const op = typeof body.operation === 'string' ? findOperation(body.operation) : undefined;
    if (!op || (op.doors && !op.doors.includes('cli'))) return jsonError(404, 'not_found', `no operation ${String(body.operation)}`);
    const actor = typeof body.actor === 'string' && /^cli:[\w.-]{1,64}$/.test(body.actor) ? body.actor : 'cli';
    return Response.json(await invoke(op, body.input ?? {}, { app, actor, access: FULL_ACCESS, door: 'cli', observe }));
  };

  const server = http.createServer(async (req, res) => {
    const started = performance.now();
    const requestId = validRequestId(req.headers['x-request-id']) ?? randomUUID();
    res.setHeader('x-request-id', requestId);
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const path = (req.url ?? '/').split('?')[0];
    const seen: { keyId?: string | null } = {};
    let status = 500;
    let failure: string | undefined;
    try {
      const refused = refuse(req, path);
      if (refused) {
        status = refused.status;
        dropRestOfBody(req, res);
        await sendResponse(res, refused);
        return;
      }
      const limit = bodyLimit(req.method ?? 'GET', path);
      checkDeclaredLength(req, limit);
      const url = `http://${req.headers.host ?? 'localhost'}${req.url}`;
      const head = toWebRequest(req, url, ac.signal);
      const routed = await route(head, path, seen, async () => toWebRequest(req, url, ac.signal, await readBody(req, limit)));
      dropRestOfBody(req, res);
      // The UI's hashed assets never change: compressed once, at the best quality.
      const immutable = routed.status === 200 && path.startsWith('/assets/') && uiOwns(req.method ?? 'GET', path) ? path : undefined;
      const response = await compress(req.headers['accept-encoding'], routed, immutable);
      status = response.status;
      await sendResponse(res, response);
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
      status = err instanceof ExemplarError ? err.status : 500;
      if (!(err instanceof ExemplarError)) process.stderr.write(`exemplar: ${req.method} ${path} failed: ${describeUnexpected(err)}\n`);
      dropRestOfBody(req, res);
      if (!res.headersSent) {
        const body = err instanceof ExemplarError ? errorBody(err) : { code: 'internal', message: 'internal error (see the server log)' };
        await sendResponse(res, Response.json({ error: body }, { status })).catch(() => {});
      } else res.end();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const routeLabel = rest.routeOf(req.method ?? 'GET', path) ?? (['/mcp', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'].includes(path) ? path : uiOwns(req.method ?? 'GET', path) ? 'ui' : 'other');
      metrics.requests.observe({ method: req.method ?? 'GET', route: routeLabel, status: String(status) }, seconds);
      log?.({
        time: new Date().toISOString(),
        level: status >= 500 ? 'error' : 'info',
        requestId,
        method: req.method ?? 'GET',
        path,
        status,
        ms: Math.round(seconds * 10_000) / 10,
        ...(seen.keyId !== undefined ? { keyId: seen.keyId } : {}),
        ...(failure ? { error: failure } : {}),
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? app.config.port, opts.host ?? app.config.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  hosts = new HostCheck({ boundAddress: address, configuredHost: opts.host ?? app.config.host, allowedHosts: app.config.allowedHosts });
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  if (opts.localChannel) channel = openLocalChannel(app.config.dataDir, url);
  return {
    url,
    metrics,
    // Stops accepting connections, lets requests in flight finish, then closes MCP sessions.
    close: async () => {
      channel?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
      server.closeAllConnections();
      await mcp.close();
    },
  };
}

/** The route whose body is a whole file, with its own, larger limit (EXEMPLAR_MAX_IMPORT_BYTES). */
const IMPORT_ROUTE = '/v1/agents/{agent}/examples/import';

function jsonError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

/** A caller's own request id is kept when it is a sane token (so logs can be joined across services). */
function validRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && /^[\w.:-]{1,128}$/.test(value) ? value : undefined;
}

/** Browsers send Origin; a page on another site must not drive a local server (DNS rebinding). */
function originAllowed(origin: string, allowed: string[]): boolean {
  if (allowed.includes(origin)) return true;
  try {
    const host = new URL(origin).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  } catch {
    return false;
  }
}

// The web UI: the files `npm run build:ui` writes to ui/dist. Hashed assets are cached for good;
// index.html is revalidated so a new build shows up at once. Any other GET path that is not an API
// route gets index.html (the UI routes in the browser). The API key never reaches these routes.
const UI_DIR = packageFile('ui/dist/');
const UI_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};
const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function uiOwns(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && path !== '/mcp' && !path.startsWith('/mcp/') && path !== '/v1' && !path.startsWith('/v1/');
}

async function serveUi(path: string): Promise<Response> {
  let rel: string;
  try {
    rel = decodeURIComponent(path);
  } catch {
    return jsonError(400, 'bad_path', 'the path is not valid percent-encoding');
  }
  const file = nodePath.resolve(UI_DIR, `.${nodePath.posix.normalize(`/${rel}`)}`);
  const inside = file.startsWith(UI_DIR) && !rel.includes('\0');
  const ext = nodePath.extname(file);
  if (inside && ext && ext !== '.html') {
    const body = await fs.readFile(file).catch(() => null);
    if (body) {
      const immutable = rel.startsWith('/assets/');
      return new Response(body, {
        headers: {
          'content-type': UI_TYPES[ext] ?? 'application/octet-stream',
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
          'x-content-type-options': 'nosniff',
        },
      });
    }
    // A missing asset is a 404, not the page: a stale index.html must not get HTML for its script.
    if (rel.startsWith('/assets/')) return jsonError(404, 'not_found', `no file ${path}`);
  }
  const index = await fs.readFile(nodePath.join(UI_DIR, 'index.html')).catch(() => null);
  if (!index) return jsonError(404, 'not_found', `no route GET ${path} (the web UI is not built: run npm run build:ui)`);
  return new Response(index, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': UI_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    },
  });
}
