import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthenticationError } from '../access/access.ts';
import { errorBody, ExemplarError } from '../errors.ts';
import type { Exemplar } from '../exemplar.ts';
import { McpHttpHandler } from '../mcp/http.ts';
import { fromNodeRequest, sendResponse } from './node-adapter.ts';
import { openApiDocument, RestApi } from './rest.ts';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `exemplar serve`: the REST API under /v1 (described by /openapi.json), the MCP endpoint /mcp,
 * and /healthz. /v1 and /mcp need a bearer API key and, from a browser, an allowed Origin.
 */
export async function startHttpServer(app: Exemplar, opts: { host?: string; port?: number } = {}): Promise<RunningServer> {
  const mcp = new McpHttpHandler(app);
  const rest = new RestApi(app);
  const openapi = openApiDocument();
  const origins = app.config.allowedOrigins;
  const server = http.createServer(async (req, res) => {
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    try {
      const request = await fromNodeRequest(req, ac.signal);
      const path = new URL(request.url).pathname;
      if (path === '/healthz') return await sendResponse(res, Response.json({ status: 'ok' }));
      if (path === '/openapi.json') return await sendResponse(res, Response.json(openapi));
      if (path !== '/mcp' && !rest.owns(path)) return await sendResponse(res, jsonError(404, 'not_found', `no route ${req.method} ${path}`));
      const origin = request.headers.get('origin');
      if (origin && !originAllowed(origin, origins)) {
        return await sendResponse(res, jsonError(403, 'forbidden_origin', `origin ${origin} is not allowed (set EXEMPLAR_ALLOWED_ORIGINS)`));
      }
      const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
      const access = await app.apiKeys.authenticate(bearer);
      await sendResponse(res, path === '/mcp' ? await mcp.handle(request, access) : await rest.handle(request, access));
    } catch (err) {
      if (err instanceof AuthenticationError) {
        const response = jsonError(401, err.code, err.message);
        response.headers.set('www-authenticate', 'Bearer realm="exemplar"');
        return sendResponse(res, response).catch(() => {});
      }
      if (!(err instanceof ExemplarError)) console.error('exemplar serve:', err);
      if (!res.headersSent) await sendResponse(res, Response.json({ error: errorBody(err) }, { status: err instanceof ExemplarError ? err.status : 500 })).catch(() => {});
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? app.config.port, opts.host ?? app.config.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: async () => {
      await mcp.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

function jsonError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
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
