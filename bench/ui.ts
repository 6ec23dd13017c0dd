// The web UI's first-load size: every JS and CSS file index.html loads, gzipped (level 9, as a
// server or CDN would send it). Builds the UI first when ui/dist is missing.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'ui/dist');
const GOAL_KB = 300;

export async function benchUi(): Promise<void> {
  if (!fs.existsSync(path.join(DIST, 'index.html'))) execSync('npm run build:ui', { cwd: ROOT, stdio: 'ignore' });
  const html = fs.readFileSync(path.join(DIST, 'index.html'), 'utf8');
  // Scripts, stylesheets and module preloads that the page fetches on first load.
  const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
  let js = 0;
  let css = 0;
  let raw = 0;
  for (const ref of new Set(refs)) {
    const body = fs.readFileSync(path.join(DIST, ref));
    raw += body.length;
    const gz = gzipSync(body, { level: 9 }).length;
    if (ref.endsWith('.js')) js += gz;
    else css += gz;
  }
  const kb = (n: number) => (n / 1024).toFixed(1);
  console.log('\n## Web UI first load (ui/dist, gzipped)');
  console.log('| files | raw | gzipped JS | gzipped CSS | gzipped total | goal |');
  console.log('|---|---|---|---|---|---|');
  console.log(`| ${new Set(refs).size} | ${kb(raw)} KB | ${kb(js)} KB | ${kb(css)} KB | ${kb(js + css)} KB | < ${GOAL_KB} KB: ${js + css < GOAL_KB * 1024 ? 'met' : 'missed'} |`);
}
