// `npm run build` (run by `npm ci` through `prepare`): the CLI and server bundled into dist/, so a
// command loads a few files instead of resolving and compiling some 900 modules through tsx.
// Each command's modules stay in their own chunks (--splitting), loaded only when that command runs.
// Packages that read files beside themselves (WASM, data) or load only for rare work stay in
// node_modules; the files Exemplar itself reads are found from the package root (src/package-files.ts).
import * as esbuild from 'esbuild';
import fs from 'node:fs';

const root = new URL('../', import.meta.url);
const outdir = new URL('dist/', root);
fs.rmSync(outdir, { recursive: true, force: true });

await esbuild.build({
  entryPoints: [new URL('src/cli/main.ts', root).pathname],
  outdir: outdir.pathname,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: names stay, so a stack trace still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  external: [
    '@electric-sql/pglite', 'libpg-query', 'pg', 'tsx', 'llamaindex', '@llamaindex/*', 'openai', '@anthropic-ai/sdk',
    'gpt-tokenizer', '@huggingface/transformers', 'prom-client',
  ],
  // Bundled CommonJS packages call require() for Node's built-in modules.
  banner: { js: "import { createRequire as __exemplarRequire } from 'node:module'; const require = __exemplarRequire(import.meta.url);" },
});
// The stamp bin/exemplar.js compares with src/ to know dist/ is up to date.
fs.writeFileSync(new URL('.built', outdir), `${new Date().toISOString()}\n`);
