#!/usr/bin/env node
// Runs the compiled CLI in dist/ (built by `npm ci` and `npm run build`) when it is up to date with
// src/, and the TypeScript sources through tsx otherwise (while developing), so neither is stale.
import fs from 'node:fs';

const root = new URL('../', import.meta.url);
if (compiledIsCurrent()) {
  await import('../dist/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

function compiledIsCurrent() {
  let built;
  try {
    built = fs.statSync(new URL('dist/.built', root)).mtimeMs;
  } catch {
    return false;
  }
  const changedSince = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const url = new URL(entry.isDirectory() ? `${entry.name}/` : entry.name, dir);
      return entry.isDirectory() ? changedSince(url) : fs.statSync(url).mtimeMs > built;
    });
  return !changedSince(new URL('src/', root));
}
