import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// The real worker in workerd with local D1, R2, Durable Objects and the rate-limit binding.
export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      main: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
      wrangler: { configPath: fileURLToPath(new URL('../wrangler.toml', import.meta.url)) },
      miniflare: {
        bindings: {
          ADMIN_TOKEN: 'test-admin-token-9f2c1e7a4b8d0356e1f4a2c9',
          TEST_MIGRATIONS: await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url))),
        },
        // A database no migration was applied to, as plain `wrangler dev` leaves it, and ones a test
        // applies only the first migrations to.
        d1Databases: { EMPTY_DB: 'edgehead-empty', OLD_DB: 'edgehead-old', PRE_SEAL_DB: 'edgehead-pre-seal' },
        ratelimits: {
          RATE_LIMITER: { simple: { limit: 100, period: 60 } },
          // Tests send everything from one address: a limit no suite run reaches. TIGHT_LIMITER
          // stands in for it where a test checks the per-address limit itself.
          AUTH_RATE_LIMITER: { simple: { limit: 100_000, period: 60 } },
          TIGHT_LIMITER: { simple: { limit: 5, period: 60 } },
        },
      },
    })),
  ],
  test: {
    name: 'worker',
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/apply-migrations.ts'],
    testTimeout: 60_000,
  },
});
