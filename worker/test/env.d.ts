// Bindings seen by tests through `import { env } from 'cloudflare:test'`.
type EdgeheadWorkerEnv = import('../src/env.js').Env;

declare namespace Cloudflare {
  interface Env extends EdgeheadWorkerEnv {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    EMPTY_DB: D1Database;
    OLD_DB: D1Database;
    PRE_SEAL_DB: D1Database;
    TIGHT_LIMITER: RateLimit;
    /** Backbone files to upload: fetch `https://files/<binding>` from BACKBONE_FILES. */
    TEST_BACKBONE_FILES: Array<{ id: string; name: string; binding: string }>;
    BACKBONE_FILES: Fetcher;
  }
}
