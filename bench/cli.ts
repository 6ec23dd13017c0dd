import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt, startServer } from './support.ts';

const BIN = path.resolve('bin/exemplar.js');
const RUNS = 7;

/**
 * Issue 11's CLI figures: wall time and peak resident memory of whole CLI processes, each a fresh
 * `node bin/exemplar.js ...` from start to exit, on the demo agent. Median of 7 runs after one
 * warm-up run; peak RSS is the kernel's (GNU time's %M), so it includes Node's own start and exit.
 */
export async function benchCli(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-cli-'));
  const env = { ...process.env, EXEMPLAR_DATA_DIR: dir, DATABASE_URL: '' } as Record<string, string>;
  try {
    const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' }); // measure the compiled CLI, as installed
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
    run(env, ['demo']);
    // Right after the build, commands run ~30 ms slower for a few seconds (the build's writes being
    // flushed): let that pass, and warm each command up once, so the figures are a user's.
    await new Promise((r) => setTimeout(r, 5000));
    const timer = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
    console.log(`\n## CLI (fresh process each, median of ${RUNS} after a warm-up run; demo agent, ${fmt(331, 0)} examples, embedded PGlite)`);
    console.log('| command | where it runs | wall | peak RSS |');
    console.log('|---|---|---|---|');
    const line = async (what: string, where: string, args: string[]) => {
      const r = await measure(env, args, timer);
      console.log(`| \`exemplar ${what}\` | ${where} | ${fmt(r.ms, 0)} ms | ${r.rssMb === undefined ? 'n/a (no /usr/bin/time)' : `${fmt(r.rssMb, 0)} MB`} |`);
    };
    const search = ['search', 'retry a flaky network call', '--agent', 'demo-coding-assistant'];
    await line('--help', 'no database', ['--help']);
    await line('agents list', 'opens PGlite itself', ['agents', 'list']);
    await line('search "retry a flaky network call"', 'opens PGlite itself', search);

    const server = await startServer(env);
    try {
      await line('agents list', 'answered by the running server', ['agents', 'list']);
      await line('search "retry a flaky network call"', 'answered by the running server', search);
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function run(env: Record<string, string>, args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`exemplar ${args.join(' ')} failed: ${r.stderr}`);
}

/**
 * Wall time from spawn to exit, as a shell sees it: output goes nowhere (a pipe read by this
 * process would add its own 20–80 ms), and GNU time writes the peak RSS to a file.
 */
async function measure(env: Record<string, string>, args: string[], timer: string | undefined): Promise<{ ms: number; rssMb?: number }> {
  const times: number[] = [];
  const rss: number[] = [];
  const out = path.join(os.tmpdir(), `exemplar-bench-time-${process.pid}`);
  for (let i = -1; i < RUNS; i++) {
    const started = performance.now();
    const child = timer
      ? spawn(timer, ['-o', out, '-f', '%M', process.execPath, BIN, ...args], { env, stdio: 'ignore' })
      : spawn(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`exemplar ${args.join(' ')} exited with ${code}`);
    if (i < 0) continue; // the warm-up run
    times.push(performance.now() - started);
    if (timer) rss.push(Number(fs.readFileSync(out, 'utf8').trim().split('\n').at(-1)) / 1024);
  }
  fs.rmSync(out, { force: true });
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ms: median(times), rssMb: timer ? median(rss) : undefined };
}
