/**
 * The trainer page in Debian's Chromium, driven as a person would: name two classes, add real
 * photos from files and one from a (fake) webcam, train, try a photo, export the head and check
 * it predicts the same in Node, publish it to a local `wrangler dev` and classify through it.
 * Screenshots of each step go to .cache/trainer-shots (not committed).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViteDevServer } from 'vite';
import { EdgeClient } from '../../sdk/src/client/edge-client.js';
import { bootstrapTenant, freePort, startLocalWorker, type LocalWorker } from '../../sdk/src/cli/local-worker.js';
import { parseHead } from '../../sdk/src/heads/format.js';
import { loadBackbone, readImageFile } from '../../sdk/src/node.js';
import { REPO, SHARED, cifar } from '../../sdk/test/helpers.js';

const SHOTS = join(REPO, '.cache', 'trainer-shots');
const TRAIN = { cat: [0, 1, 2, 3, 4, 5, 6, 7], ship: [0, 1, 2, 3, 4, 5, 6, 7] };
const QUERIES = [cifar('test', 'cat', 0), cifar('test', 'ship', 0), cifar('test', 'cat', 1), cifar('test', 'ship', 1)];

let server: ViteDevServer;
let origin: string;
let browser: Browser;
let page: Page;
let worker: LocalWorker | undefined;

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  const { createServer } = await import('vite');
  server = await createServer({ configFile: join(REPO, 'examples', 'trainer', 'vite.config.ts'), logLevel: 'error', server: { port: await freePort(), strictPort: true } });
  await server.listen();
  origin = `http://127.0.0.1:${server.config.server.port}`;
  // A fake webcam showing a real ship photo (MJPEG: JPEG frames back to back).
  const frame = await sharp(cifar('test', 'ship', 5)).resize(320, 240).jpeg().toBuffer();
  const video = join(SHOTS, 'webcam.mjpeg');
  await writeFile(video, Buffer.concat([frame, frame, frame]));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required',
      `--use-file-for-fake-video-capture=${video}`,
      // A fake microphone saying "one" (a real FSDD take), looped.
      `--use-file-for-fake-audio-capture=${join(SHARED, 'data', 'fsdd', '1_jackson_40.wav')}`,
    ],
  });
  page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true })).newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await worker?.stop();
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const status = () => page.locator('#status').textContent();

async function waitForStatus(pattern: RegExp, timeout = 90_000): Promise<void> {
  await page
    .waitForFunction((source) => new RegExp(source).test(document.querySelector('#status')?.textContent ?? ''), pattern.source, { timeout })
    .catch(async (e: Error) => {
      throw new Error(`status never matched ${pattern}; it says "${await status()}" (${e.message})`);
    });
}

/** Clears the status line, does `action`, and waits for the status it should lead to. */
async function act(action: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await page.evaluate(() => (document.querySelector('#status')!.textContent = ''));
  await action();
  await waitForStatus(pattern);
}

describe('trainer page', () => {
  it('loads the image backbone and says which runtime it chose', async () => {
    await page.goto(origin);
    await waitForStatus(/^Ready/);
    expect(await page.locator('#backbone').textContent()).toMatch(/mobilenetv2-int8 · 1280-d · runs on wasm/);
    await shot('1-loaded');
  }, 120_000);

  it('every control has an accessible name and is reachable by keyboard', async () => {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button, meter')]
        .filter((el) => !(el as HTMLElement).hidden && (el as HTMLInputElement).type !== 'hidden')
        .filter((el) => {
          const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
          return !labelled && !(el.textContent ?? '').trim();
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
    // Tab from the top reaches the Train button.
    await page.locator('#modality').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.id === 'train');
    }
    expect(reached).toBe(true);
  });

  it('names classes, adds photos from files and from the webcam, and trains with cross-validation', async () => {
    const classes = page.locator('section.class');
    for (const [i, [name, ids]] of Object.entries(TRAIN).entries()) {
      await classes.nth(i).locator('input.class-name').fill(name);
      await classes.nth(i).locator('input.class-name').dispatchEvent('change');
      await classes.nth(i).locator('input[type=file]').setInputFiles(ids.map((n) => cifar('train', name, n)));
      await waitForStatus(new RegExp(`8 example\\(s\\) added to “${name}”`));
    }
    await classes.nth(1).getByRole('button', { name: 'Webcam snapshot' }).click();
    await waitForStatus(/1 example\(s\) added to “ship”/);
    expect(await classes.nth(1).locator('.examples li').count()).toBe(9);
    // Hold to record: snapshots keep coming while the button is held, and stop on release.
    const hold = classes.nth(1).getByRole('button', { name: 'Hold to record' });
    await hold.dispatchEvent('pointerdown');
    await page.waitForTimeout(1500);
    await hold.dispatchEvent('pointerup');
    await page.waitForFunction(() => !document.querySelector('.examples li.pending'));
    const afterHold = await classes.nth(1).locator('.examples li').count();
    expect(afterHold).toBeGreaterThanOrEqual(11);
    await page.waitForTimeout(1000);
    expect(await classes.nth(1).locator('.examples li').count()).toBe(afterHold);
    for (let i = afterHold; i > 9; i--) await classes.nth(1).locator('.examples li').last().getByRole('button').click();
    expect(await classes.nth(1).locator('.examples li').count()).toBe(9);
    // Drag and drop a file onto a class card.
    await act(
      () =>
        page.evaluate(async () => {
          const canvas = new OffscreenCanvas(32, 32);
          const ctx = canvas.getContext('2d')!;
          ctx.fillStyle = '#3366cc';
          ctx.fillRect(0, 0, 32, 32);
          const file = new File([await canvas.convertToBlob({ type: 'image/png' })], 'dropped.png', { type: 'image/png' });
          const transfer = new DataTransfer();
          transfer.items.add(file);
          document.querySelectorAll('section.class')[1].dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }),
      /1 example\(s\) added to “ship”/,
    );
    expect(await classes.nth(1).locator('.examples li').count()).toBe(10);
    await classes.nth(1).locator('.examples li').last().getByRole('button').click();
    expect(await classes.nth(1).locator('.examples li').count()).toBe(9);
    await shot('2-examples');
    await page.locator('#train').click();
    await waitForStatus(/^Trained:/);
    const results = await page.locator('#results').textContent();
    expect(results).toMatch(/Cross-validated \(\d folds\): accuracy \d+\.\d %/);
    expect(await page.locator('table.confusion tr').count()).toBe(3); // header + 2 classes
    await shot('3-trained');
  }, 180_000);

  it('predicts photos it has not seen with top-k bars; the exported head predicts the same in Node', async () => {
    const pageLabels: string[] = [];
    for (const query of QUERIES) {
      await page.locator('#try-file').setInputFiles(query);
      await waitForStatus(/^Predicted/);
      pageLabels.push((await page.locator('#prediction .answer').first().textContent()) ?? '');
      await page.evaluate(() => (document.querySelector('#status')!.textContent = ''));
    }
    await shot('4-predicted');
    expect(await page.locator('#prediction meter').count()).toBeGreaterThanOrEqual(2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
    const headText = await readFile(await download.path());
    // Importing the downloaded file back.
    const downloaded = await download.path();
    await act(() => page.locator('#import').setInputFiles(downloaded), /^Imported a \w+ head with classes cat, ship/);
    const loaded = parseHead(headText.toString('utf8'));
    const { backbone } = await loadBackbone('mobilenetv2-int8');
    try {
      expect(loaded.backbone?.fingerprint).toBe(backbone.fingerprint);
      const nodeLabels = loaded.head.predict(await backbone.embed(await Promise.all(QUERIES.map(readImageFile)))).map((p) => (p.unknown ? `unknown (nearest: ${p.nearest})` : p.label));
      expect(pageLabels).toEqual(nodeLabels);
      expect(nodeLabels.filter((l) => l === 'cat' || l === 'ship').length).toBeGreaterThanOrEqual(3);
    } finally {
      await backbone.dispose();
    }
  }, 120_000);

  it('publishes to a local worker (CORS allowed for the page) and the worker classifies with the published head', async () => {
    worker = await startLocalWorker({ vars: { CORS_ORIGINS: origin } });
    const keys = await bootstrapTenant(worker.url, worker.adminToken);
    await page.locator('#publish input[name=url]').fill(worker.url);
    await page.locator('#publish input[name=key]').fill(keys.writeKey);
    await page.locator('#publish input[name=name]').fill('pets');
    await page.locator('#publish button[type=submit]').click();
    await waitForStatus(/^Published|^Error/);
    expect(await status()).toBe('Published.');
    expect(await page.locator('#published').textContent()).toMatch(/^Published pets version 1 as @prod \(2 classes\)/);
    await shot('5-published');
    const { backbone } = await loadBackbone('mobilenetv2-int8');
    try {
      const client = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
      const result = await client.classify('pets@prod', await backbone.embed(await Promise.all(QUERIES.map(readImageFile))), { fingerprint: backbone.fingerprint });
      expect(result.version).toBe(1);
      expect(result.predictions.map((p) => p.nearest).every((l) => l === 'cat' || l === 'ship')).toBe(true);
    } finally {
      await backbone.dispose();
    }
  }, 180_000);

  it('text: typed sentences per class, trained, and a new sentence classified', async () => {
    await act(() => page.locator('#modality').selectOption('text'), /^Ready/);
    expect(await page.locator('#backbone').textContent()).toMatch(/use-lite · 512-d/);
    const examples = {
      billing: ['I was charged twice this month', 'refund my last payment', 'why is my invoice so high', 'update my credit card'],
      login: ['I cannot sign in', 'reset my password', 'my account is locked', 'the login page rejects my password'],
    };
    const classes = page.locator('section.class');
    for (const [i, [name, sentences]] of Object.entries(examples).entries()) {
      await classes.nth(i).locator('input.class-name').fill(name);
      await classes.nth(i).locator('input.class-name').dispatchEvent('change');
      for (const sentence of sentences) {
        await classes.nth(i).locator('.tools input[type=text]').fill(sentence);
        await act(() => classes.nth(i).locator('.tools input[type=text]').press('Enter'), new RegExp(`added to “${name}”`));
      }
    }
    await act(() => page.locator('#train').click(), /^Trained:/);
    await page.locator('#try-sentence').fill('please give me my money back');
    await act(() => page.locator('#try-text button').click(), /^Predicted/);
    expect(await page.locator('#prediction .answer').first().textContent()).toBe('billing');
    await shot('6-text');
  }, 180_000);

  it('sounds: WAV files of two spoken digits, trained, and a new take classified', async () => {
    await act(() => page.locator('#modality').selectOption('audio'), /^Ready/);
    const fsdd = (digit: number, take: number) => join(SHARED, 'data', 'fsdd', `${digit}_jackson_${take}.wav`);
    const classes = page.locator('section.class');
    for (const [i, digit] of [0, 1].entries()) {
      await classes.nth(i).locator('input.class-name').fill(`digit ${digit}`);
      await classes.nth(i).locator('input.class-name').dispatchEvent('change');
      await classes.nth(i).locator('input[type=file]').setInputFiles([0, 1, 2, 3, 4, 5].map((t) => fsdd(digit, t)));
      await waitForStatus(new RegExp(`6 example\\(s\\) added to “digit ${digit}”`));
    }
    // A clip from the (fake) microphone, which plays a take of "one".
    await act(() => classes.nth(1).getByRole('button', { name: /Record/ }).click(), /1 example\(s\) added to “digit 1”/);
    expect(await classes.nth(1).locator('.examples li').count()).toBe(7);
    expect(await classes.nth(1).locator('.examples li').last().textContent()).toMatch(/^1\.\d s clip/);
    await act(() => page.locator('#train').click(), /^Trained:/);
    await act(() => page.locator('#try-file').setInputFiles(fsdd(1, 30)), /^Predicted/);
    // The nearest class is right; the distance gate may still call a new take "unknown" (issue 10's
    // open-set calibration), so the answer is checked through its nearest class.
    expect(await page.locator('#prediction .answer').first().textContent()).toMatch(/^(digit 1|unknown \(nearest: digit 1\))$/);
    // Live from the microphone: the fake device says "one".
    await act(() => page.locator('#try-mic').click(), /^Predicted/);
    expect(await page.locator('#prediction .answer').first().textContent()).toMatch(/^(digit 1|unknown \(nearest: digit 1\))$/);
    expect(await page.locator('#camera').isHidden()).toBe(true);
    await shot('7-audio');
  }, 180_000);
});
