import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'sdk',
          include: ['sdk/test/**/*.test.ts', 'examples/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      'worker/vitest.config.ts',
    ],
    // Two cores here: model-heavy files in parallel only slow each other down.
    maxWorkers: 2,
  },
});
