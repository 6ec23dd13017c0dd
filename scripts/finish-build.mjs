// After `tsc -p tsconfig.build.json`: the files the compiled code reads beside itself, and the stamp
// bin/exemplar.js compares with src/ to know dist/ is up to date.
import fs from 'node:fs';

const root = new URL('../', import.meta.url);
fs.copyFileSync(new URL('src/vectors/kernel.wasm', root), new URL('dist/vectors/kernel.wasm', root));
fs.rmSync(new URL('dist/db/migrations/', root), { recursive: true, force: true });
fs.cpSync(new URL('src/db/migrations/', root), new URL('dist/db/migrations/', root), { recursive: true });
fs.writeFileSync(new URL('dist/.built', root), `${new Date().toISOString()}\n`);
