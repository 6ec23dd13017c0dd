import type { Command } from 'commander';
import { FULL_ACCESS } from '../access/access.ts';
import type { Exemplar } from '../exemplar.ts';
import { openApp, reportError, type GlobalOptions } from './door.ts';

/** The long-running doors: `exemplar serve` (HTTP) and `exemplar mcp` (MCP over stdio). */
export function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the server: the REST API at /v1 (/openapi.json), MCP at /mcp (Streamable HTTP), /healthz, the sync worker and the fine-tuning run poller. Bearer API keys.')
    .option('--host <host>', 'address to bind (default: $EXEMPLAR_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default: $EXEMPLAR_PORT or 8787)')
    .option('--demo', 'on first start: load the demo agent, and create an admin key for the web UI and print its link once')
    .addHelpText('after', '\nExamples:\n  $ exemplar serve --demo          (what npm start runs)\n  $ exemplar keys create --scope admin --name me\n  $ exemplar serve --port 8787\n')
    .action(async (opts: { host?: string; port?: string; demo?: boolean }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      let app: Exemplar | undefined;
      try {
        app = await openApp(global, 'long-running');
        const worker = await app.startSyncWorker({ role: 'serve' });
        const poller = await app.runs.startPoller();
        const { startHttpServer } = await import('../http/server.ts');
        // On the embedded database this process is the only one that may open it: CLI commands come here instead.
        const server = await startHttpServer(app, { host: opts.host, port: opts.port ? Number(opts.port) : undefined, log: true, localChannel: app.db.kind === 'pglite' });
        const firstKey = opts.demo ? await firstStart(app) : undefined;
        process.stderr.write(
          `Exemplar is serving ${server.url}: web UI ${server.url}/, REST ${server.url}/v1 (docs ${server.url}/docs), MCP ${server.url}/mcp. Ctrl-C stops it.\n` +
            (firstKey
              ? `\nFirst start: open this link to use the web UI (it carries a new admin key, shown only now):\n  ${server.url}/#key=${firstKey}\n\n`
              : `Sign in to the web UI with an API key (create one with: exemplar keys create --scope admin).\n`),
        );
        await untilSignal();
        process.stderr.write('Stopping: finishing requests and the current sync batch...\n');
        await server.close();
        await poller.stop();
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
        app = await openApp(global, 'long-running');
        const access = process.env.EXEMPLAR_API_KEY ? await app.apiKeys.authenticate(process.env.EXEMPLAR_API_KEY) : FULL_ACCESS;
        const worker = await app.startSyncWorker({ role: 'mcp' });
        const { serveMcpOverStdio } = await import('../mcp/stdio.ts');
        await serveMcpOverStdio(app, access);
        await worker.stop();
      } catch (err) {
        reportError(err, global);
      } finally {
        await app?.close();
      }
    });
}

/**
 * First start of `serve --demo`: the demo agent when there are no agents yet, and an admin key when
 * there are no keys yet (returned once, so the terminal can show a sign-in link; it is not logged).
 */
async function firstStart(app: Exemplar): Promise<string | undefined> {
  const { loadDemo } = await import('../demo/demo.ts');
  if ((await app.agents.list()).length === 0) await loadDemo(app, 'serve --demo');
  if ((await app.apiKeys.list()).length > 0) return undefined;
  return (await app.apiKeys.create({ name: 'web UI (first start)', scopes: ['admin'] }, 'serve --demo')).key;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
