/**
 * `fit --report`: a self-contained HTML file, rendered in Debian's Chromium with every network
 * request recorded — there must be none — and checked for what it promises to show.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { cifar } from './helpers.js';

afterEach(() => vi.restoreAllMocks());

describe('fit --report', () => {
  it('writes a report that renders offline with confusion, per-class, PCA map and mistakes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-report-'));
    const classes = ['cat', 'dog', 'ship'];
    for (const c of classes) {
      await mkdir(join(dir, 'data', c), { recursive: true });
      for (let i = 0; i < 6; i++) await symlink(cifar('train', c, i), join(dir, 'data', c, `${i}.jpg`));
    }
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const reportPath = join(dir, 'report.html');
    const code = await main(['fit', join(dir, 'data'), '-b', 'mobilenetv2-int8', '--head', 'centroid', '--augment', '1', '--seed', '1', '--out', join(dir, 'h.json'), '--report', reportPath, '--json']);
    expect(code).toBe(0);
    const head = JSON.parse(await readFile(join(dir, 'h.json'), 'utf8')) as { training: { nPerClass: Record<string, number>; augmentedViewsPerExample: number } };
    expect(head.training.nPerClass).toEqual({ cat: 6, dog: 6, ship: 6 });
    expect(head.training.augmentedViewsPerExample).toBe(1);

    const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    expect(existsSync(executablePath), 'apt-get install chromium').toBe(true);
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on('request', (r) => {
        if (!/^(file|data):/.test(r.url())) external.push(r.url());
      });
      await page.goto(`file://${reportPath}`);
      expect(external).toEqual([]);
      expect(await page.locator('table.confusion tbody tr').count()).toBe(3);
      expect(await page.locator('table.per-class tbody tr').count()).toBe(3);
      // One mark per row: 18 photos + 18 augmented views.
      const marks = (await page.locator('svg circle').count()) + (await page.locator('svg g.wrong').count());
      expect(marks).toBe(36);
      const wrong = await page.locator('svg g.wrong').count();
      expect(await page.locator('.mistakes figure').count()).toBe(wrong);
      if (wrong) expect(await page.locator('.mistakes img').first().getAttribute('src')).toMatch(/^data:image\/jpeg;base64,/);
    } finally {
      await browser.close();
    }
  });
});
