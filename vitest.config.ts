import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['sdk/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores here: model-heavy files in parallel only slow each other down.
    maxWorkers: 2,
  },
});
