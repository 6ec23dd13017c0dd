import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt } from './support.ts';

const BIN = path.resolve('bin/exemplar.js');
const RUNS = 7;

/**
 * Issue 11's CLI figures: wall time and peak resident memory of whole CLI processes, each a fresh
 * `node bin/exemplar.js ...` from start to exit, on the demo agent. Median of 7 runs; peak RSS is
 * the kernel's (GNU time's %M), so it includes Node's own start and exit.
 */
export async function benchCli(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-cli-'));
  const env = { ...process.env, EXEMPLAR_DATA_DIR: dir, DATABASE_URL: '' } as Record<string, string>;
  try {
    const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' }); // measure the compiled CLI, as installed
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
    run(env, ['demo']);
    const timer = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
    console.log(`\n## CLI (fresh process each, median of ${RUNS}; demo agent, ${fmt(331, 0)} examples, embedded PGlite)`);
    console.log('| command | where it runs | wall | peak RSS |');
    console.log('|---|---|---|---|');
    const line = (what: string, where: string, args: string[]) => {
      const r = measure(env, args, timer);
      console.log(`| \`exemplar ${what}\` | ${where} | ${fmt(r.ms, 0)} ms | ${r.rssMb === undefined ? 'n/a (no /usr/bin/time)' : `${fmt(r.rssMb, 0)} MB`} |`);
    };
    const search = ['search', 'retry a flaky network call', '--agent', 'demo-coding-assistant'];
    line('--help', 'no database', ['--help']);
    line('agents list', 'opens PGlite itself', ['agents', 'list']);
    line('search "retry a flaky network call"', 'opens PGlite itself', search);

    const port = 18_000 + Math.floor(Math.random() * 2000);
    const server = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      server.stderr.on('data', (d: Buffer) => d.toString().includes('serving') && resolve());
      server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    try {
      line('agents list', 'answered by the running server', ['agents', 'list']);
      line('search "retry a flaky network call"', 'answered by the running server', search);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(env: Record<string, string>, args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exemplar ${args.join(' ')} failed: ${r.stderr}`);
}

function measure(env: Record<string, string>, args: string[], timer: string | undefined): { ms: number; rssMb?: number } {
  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const r = timer
      ? spawnSync(timer, ['-f', '%M', process.execPath, BIN, ...args], { env, encoding: 'utf8' })
      : spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
    times.push(performance.now() - started);
    if (r.status !== 0) throw new Error(`exemplar ${args.join(' ')} failed: ${r.stderr}`);
    if (timer) rss.push(Number(r.stderr.trim().split('\n').at(-1)) / 1024);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ms: median(times), rssMb: timer ? median(rss) : undefined };
}
