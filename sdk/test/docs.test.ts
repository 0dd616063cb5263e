/**
 * Every ```sh and ```ts block in docs/*.md runs here, from a fresh folder, as a reader would run
 * it (```console blocks are commands against Cloudflare and are the only ones not run).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, SHARED } from './helpers.js';

const run = promisify(execFile);
const DOCS = join(REPO, 'docs');

async function snippets(): Promise<Array<{ doc: string; lang: 'sh' | 'ts'; code: string; index: number }>> {
  const out = [];
  for (const doc of (await readdir(DOCS)).filter((f) => f.endsWith('.md')).sort()) {
    const text = await readFile(join(DOCS, doc), 'utf8');
    let index = 0;
    for (const m of text.matchAll(/```(sh|ts)\n([\s\S]*?)```/g)) {
      // Browser pages run in Chromium from the installed package (package.test.ts), not in Node.
      if (m[2].startsWith('// browser')) continue;
      out.push({ doc, lang: m[1] as 'sh' | 'ts', code: m[2], index: index++ });
    }
  }
  return out;
}

const all = await snippets();

describe('docs snippets run', () => {
  it('there are snippets in every guide', () => {
    for (const guide of ['images.md', 'text.md', 'audio.md', 'deploy.md']) expect(all.some((s) => s.doc === guide)).toBe(true);
  });

  it.each(all.map((s) => [`${s.doc} #${s.index} (${s.lang})`, s] as const))('%s', async (_, s) => {
    // Inside the repository, so `npx edgehead` and `import 'edgehead/node'` resolve to this checkout.
    await mkdir(join(REPO, '.cache'), { recursive: true });
    const cwd = await mkdtemp(join(REPO, '.cache', 'docs-'));
    const env = { ...process.env, EDGEHEAD_SHARED_DIR: SHARED, EDGEHEAD_REPO: REPO, CI: 'true' };
    if (s.lang === 'sh') {
      await run('bash', ['-euo', 'pipefail', '-c', s.code], { cwd, env, maxBuffer: 64 << 20 });
    } else {
      const file = join(cwd, 'snippet.ts');
      await writeFile(file, s.code);
      await run(process.execPath, ['--import', 'tsx', file], { cwd, env, maxBuffer: 64 << 20 });
    }
  }, 180_000);
});
