import type { Command } from 'commander';
import { FULL_ACCESS } from '../access/access.ts';
import { loadConfig } from '../config/config.ts';
import { Exemplar } from '../exemplar.ts';
import { startHttpServer } from '../http/server.ts';
import { serveMcpOverStdio } from '../mcp/stdio.ts';
import { reportError, type GlobalOptions } from './door.ts';

/** The long-running doors: `exemplar serve` (HTTP) and `exemplar mcp` (MCP over stdio). */
export function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the server: the REST API at /v1 (/openapi.json), MCP at /mcp (Streamable HTTP), /healthz, and the sync worker. Bearer API keys.')
    .option('--host <host>', 'address to bind (default: $EXEMPLAR_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default: $EXEMPLAR_PORT or 8787)')
    .addHelpText('after', '\nExamples:\n  $ exemplar keys create --scope admin --name me\n  $ exemplar serve --port 8787\n')
    .action(async (opts: { host?: string; port?: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      let app: Exemplar | undefined;
      try {
        app = await Exemplar.open(loadConfig(process.env, { databaseUrl: global.databaseUrl, dataDir: global.dataDir }));
        const worker = await app.startSyncWorker();
        const server = await startHttpServer(app, { host: opts.host, port: opts.port ? Number(opts.port) : undefined });
        process.stderr.write(`Exemplar is serving ${server.url}: REST ${server.url}/v1 (${server.url}/openapi.json), MCP ${server.url}/mcp. Ctrl-C stops it.\n`);
        await untilSignal();
        process.stderr.write('Stopping: finishing requests and the current sync batch...\n');
        await server.close();
        await worker.stop();
      } catch (err) {
        reportError(err, global);
      } finally {
        await app?.close();
      }
    });

  program
    .command('mcp')
    .description('Serve MCP over stdin/stdout, for Claude Desktop, Cursor and other local clients. Full access, or the access of $EXEMPLAR_API_KEY.')
    .action(async (_opts: unknown, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      let app: Exemplar | undefined;
      try {
        app = await Exemplar.open(loadConfig(process.env, { databaseUrl: global.databaseUrl, dataDir: global.dataDir }));
        const access = process.env.EXEMPLAR_API_KEY ? await app.apiKeys.authenticate(process.env.EXEMPLAR_API_KEY) : FULL_ACCESS;
        const worker = await app.startSyncWorker();
        await serveMcpOverStdio(app, access);
        await worker.stop();
      } catch (err) {
        reportError(err, global);
      } finally {
        await app?.close();
      }
    });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
