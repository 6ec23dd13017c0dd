import { randomUUID } from 'node:crypto';
import {
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { NO_ACCESS, type Access } from '../access/access.ts';
import type { Exemplar } from '../exemplar.ts';
import { createMcpServer, type McpHooks } from './server.ts';

/** Sessions idle this long are closed (clients do not always send DELETE). */
const SESSION_IDLE_MS = 30 * 60_000;

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  /** The key that opened it; no other key may use it. */
  keyId: string | null;
  lastSeen: number;
}

/**
 * The Streamable HTTP transport at /mcp, for an already authenticated request:
 * - protocol 2026-07-28 is stateless: any replica answers any request (a load balancer needs nothing);
 * - 2025-06-18 and 2025-11-25 use sessions (initialize, Mcp-Session-Id). A session lives in the
 *   process that opened it; its id starts with `replicaId.`, so a load balancer can route sticky.
 */
export class McpHttpHandler {
  private readonly modern;
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly app: Exemplar,
    private readonly hooks: McpHooks = {},
    private readonly replicaId = randomUUID().slice(0, 8),
  ) {
    // A fresh server per request, built for the request's key (its tool list is the key's).
    this.modern = createMcpHandler((ctx) => createMcpServer(app, (ctx.authInfo?.extra?.access as Access | undefined) ?? NO_ACCESS, hooks), { legacy: 'reject' });
    this.sweeper = setInterval(() => this.closeIdle(), 60_000);
    this.sweeper.unref();
  }

  async handle(request: Request, access: Access): Promise<Response> {
    const parsedBody = request.method === 'POST' ? await request.clone().json().catch(() => undefined) : undefined;
    // The SDK hands authInfo to every tool handler; Exemplar's Access rides in `extra`.
    const authInfo = { token: 'api-key', clientId: access.keyId ?? 'local', scopes: [], extra: { access } };
    if (!(await isLegacyRequest(request, parsedBody))) return this.modern.fetch(request, { authInfo, parsedBody });

    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId) {
      const session = this.sessions.get(sessionId);
      if (!session || session.keyId !== access.keyId) {
        return Response.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, { status: 404 });
      }
      session.lastSeen = Date.now();
      return session.transport.handleRequest(request, { authInfo, parsedBody });
    }
    if (request.method === 'POST' && isInitializeRequest(parsedBody)) {
      const full = this.makeRoomFor(access.keyId);
      if (full) return full;
      const server = createMcpServer(this.app, access, this.hooks);
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => `${this.replicaId}.${randomUUID()}`,
        onsessioninitialized: (id: string) => {
          this.sessions.set(id, { transport, keyId: access.keyId, lastSeen: Date.now() });
        },
        onsessionclosed: (id: string) => {
          this.sessions.delete(id);
        },
      });
      await server.connect(transport);
      return transport.handleRequest(request, { authInfo, parsedBody });
    }
    return Response.json(
      { jsonrpc: '2.0', error: { code: -32000, message: 'Bad request: send initialize first, or an Mcp-Session-Id header' }, id: null },
      { status: 400 },
    );
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.transport.close().catch(() => {})));
    this.sessions.clear();
    await this.modern.close();
  }

  /**
   * Each session holds a server and its transport in memory, so a key may hold at most
   * EXEMPLAR_MCP_SESSIONS_PER_KEY. At the limit, the key's least recently used session gives way if
   * it has been idle a minute (clients do not always close theirs); if none has, the new one is
   * refused with a 429 naming the limit.
   */
  private makeRoomFor(keyId: string | null): Response | undefined {
    const limit = this.app.config.mcpSessionsPerKey;
    const mine = [...this.sessions].filter(([, s]) => s.keyId === keyId);
    if (mine.length < limit) return undefined;
    const [id, oldest] = mine.reduce((a, b) => (b[1].lastSeen < a[1].lastSeen ? b : a));
    if (Date.now() - oldest.lastSeen >= 60_000) {
      this.sessions.delete(id);
      void oldest.transport.close().catch(() => {});
      return undefined;
    }
    return Response.json(
      {
        jsonrpc: '2.0',
        error: {
          code: -32000,
          message: `this key has ${mine.length} open MCP sessions, the most one key may hold (EXEMPLAR_MCP_SESSIONS_PER_KEY=${limit}); close one (DELETE /mcp) or use protocol 2026-07-28, which needs none`,
        },
        id: null,
      },
      { status: 429 },
    );
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen > SESSION_IDLE_MS) {
        this.sessions.delete(id);
        void s.transport.close().catch(() => {});
      }
    }
  }
}
