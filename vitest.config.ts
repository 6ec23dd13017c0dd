import { defineConfig } from 'vitest/config';

// The same test files run twice: on embedded PGlite and on the local PostgreSQL server.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Vitest's default on a 2-core machine is one worker; most test time is a single-threaded
    // PGlite or a child process waiting, so two files at once nearly halve the run.
    maxWorkers: 2,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'pglite', env: { EXEMPLAR_TEST_DB: 'pglite' } } },
      { extends: true, test: { name: 'postgres', env: { EXEMPLAR_TEST_DB: 'postgres' } } },
    ],
  },
});
