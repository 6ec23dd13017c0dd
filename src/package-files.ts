import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The files Exemplar reads at run time (the WASM kernel, migrations, the built web UI, demo data),
 * found from the package root. The same code then runs from src/ (through tsx) and from the bundle
 * in dist/, whose chunks sit in one flat folder where paths relative to a module would be wrong.
 */
export function packageFile(relative: string): string {
  return path.join(packageRoot(), relative);
}

let root: string | undefined;
function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`Exemplar's package.json was not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return (root = dir);
}
