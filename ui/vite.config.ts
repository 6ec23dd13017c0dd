import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The web UI: built into ui/dist by `npm run build:ui`, served at / by `exemplar serve`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { '/v1': 'http://127.0.0.1:8787', '/openapi.json': 'http://127.0.0.1:8787' } },
});
