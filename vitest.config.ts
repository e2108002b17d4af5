import { defineConfig } from 'vitest/config';

// Tests run real models, real SQLite files and a real Chromium: generous timeouts, and
// files in separate forks so a native crash in one cannot take the others down.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
