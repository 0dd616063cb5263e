// Builds the `edgehead` package: a clean dist/ (no stale files from renamed modules), the
// TypeScript output, and the files the published package carries besides code.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdk = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(sdk, '..');
const dist = join(sdk, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(sdk, 'tsconfig.build.json')], { stdio: 'inherit' });

// The catalogue a package user gets: only backbones whose files they can obtain (a URL pinned
// by sha256, or an npm package). Manifests whose files exist only in this project's shared
// folder stay in models/manifests, which the repository itself reads first.
mkdirSync(join(dist, 'manifests'));
for (const name of readdirSync(join(repo, 'models', 'manifests')).filter((n) => n.endsWith('.json'))) {
  const manifest = JSON.parse(readFileSync(join(repo, 'models', 'manifests', name), 'utf8'));
  const reachable = Object.values(manifest.files).every((file) => file.sources.some((s) => 'url' in s || 'package' in s));
  if (reachable) cpSync(join(repo, 'models', 'manifests', name), join(dist, 'manifests', name));
}
cpSync(join(repo, 'models', 'examples'), join(dist, 'examples'), { recursive: true });
// npm puts LICENSE from the package folder into the tarball; the repository's is the source.
writeFileSync(join(sdk, 'LICENSE'), readFileSync(join(repo, 'LICENSE')));
// The WebAssembly kernels as .wasm files too, for Workers: they may only instantiate modules
// their bundler compiled (`import similarityWasm from 'edgehead/wasm/similarity.wasm'`).
mkdirSync(join(dist, 'wasm'));
const { SIMILARITY_WASM } = await import(pathToFileURL(join(dist, 'heads', 'similarity-wasm.js')).href);
writeFileSync(join(dist, 'wasm', 'similarity.wasm'), SIMILARITY_WASM);
