import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { Access } from '../access/access.ts';
import type { Exemplar } from '../exemplar.ts';
import { createMcpServer } from './server.ts';

/**
 * Serves MCP over stdin and stdout (both the 2025 handshake and 2026-07-28) until the client
 * closes stdin. stdout is the protocol channel: nothing else may be written to it.
 */
export async function serveMcpOverStdio(app: Exemplar, access: Access): Promise<void> {
  const handle = serveStdio(() => createMcpServer(app, access), {
    onerror: (err: Error) => process.stderr.write(`exemplar mcp: ${err.message}\n`),
  });
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await handle.close();
}
