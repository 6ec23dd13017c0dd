import { defineConfig } from 'vitest/config';

// The same test files run twice: on embedded PGlite and on the local PostgreSQL server.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'pglite', env: { EXEMPLAR_TEST_DB: 'pglite' } } },
      { extends: true, test: { name: 'postgres', env: { EXEMPLAR_TEST_DB: 'postgres' } } },
    ],
  },
});
