import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SHARED = resolve(process.env.EDGEHEAD_SHARED_DIR ?? join(REPO, '..', 'shared'));

/**
 * The files of the backbones the worker serves, read in place (../shared, npm packages) by the
 * manifests' sources and handed to workerd as data bindings; the tests upload them through the
 * admin route, as `edgehead push --backbone` does.
 */
function backboneFileBindings(): { bindings: Record<string, string>; list: Array<{ id: string; name: string; binding: string }> } {
  const require = createRequire(import.meta.url);
  const bindings: Record<string, string> = {};
  const list: Array<{ id: string; name: string; binding: string }> = [];
  for (const id of ['mobilenetv2-int8', 'use-lite']) {
    const manifest = JSON.parse(readFileSync(join(REPO, 'models', 'manifests', `${id}.json`), 'utf8')) as {
      files: Record<string, { sources: Array<{ shared?: string; package?: string; path?: string }> }>;
    };
    for (const [name, file] of Object.entries(manifest.files)) {
      const source = file.sources.find((s) => s.shared || s.package);
      const path = source?.shared
        ? join(SHARED, source.shared)
        : join(dirname(require.resolve(`${source?.package}/package.json`)), source?.path ?? '');
      const binding = `BACKBONE_FILE_${list.length}`;
      bindings[binding] = path;
      list.push({ id, name, binding });
    }
  }
  return { bindings, list };
}
const backboneFiles = backboneFileBindings();

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
          TEST_BACKBONE_FILES: backboneFiles.list,
        },
        // GET /<binding> → that file's bytes, read in Node (data-blob bindings do not reach the pool).
        serviceBindings: {
          BACKBONE_FILES: (request: Request) => {
            const path = backboneFiles.bindings[new URL(request.url).pathname.slice(1)];
            return path ? new Response(readFileSync(path)) : new Response('no such file', { status: 404 });
          },
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
  // The repository root, so that node_modules (hoisted there) is inside the project: the pool
  // resolves imported .wasm files (onnxruntime-web's runtime) relative to the root.
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    name: 'worker',
    include: ['worker/test/**/*.test.ts'],
    setupFiles: ['./worker/test/apply-migrations.ts'],
    globalSetup: ['./worker/test/raw-reference.setup.ts'],
    testTimeout: 60_000,
  },
});
