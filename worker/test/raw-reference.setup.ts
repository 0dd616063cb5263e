/**
 * Runs in Node before the worker tests: the reference the Worker's raw-input path must match.
 * The SDK embeds real photos (CIFAR-10, onnxruntime-node, sharp) and real sentences (the demo's
 * support intents, TF.js WASM), fits heads on them, and hands the head files, the inputs, the
 * embeddings and its own predictions to the tests in workerd (vitest `provide`).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CentroidHead, LinearHead, headToJson, type ImageBackbone, type TextBackbone } from 'edgehead';
import { loadBackbone, readImageFile } from 'edgehead/node';

const REPO = resolve(import.meta.dirname, '..', '..');
const SHARED = resolve(process.env.EDGEHEAD_SHARED_DIR ?? join(REPO, '..', 'shared'));
const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const photo = (split: string, cls: string, i: number) => join(SHARED, 'data', 'cifar10', split, cls, `${String(i).padStart(4, '0')}.jpg`);

export const NEW_SENTENCES = [
  'my parcel still has not shown up',
  'I keep getting logged out and cannot remember the password',
  'please stop charging me every month',
  'the checkout page crashes on my phone',
  'are you open on Christmas eve?',
];

export interface RawReference {
  image: { head: string; centroidHead: string; photos: string[]; embeddings: number[][]; labels: string[]; truth: string[]; large: string[]; largeEmbeddings: number[][]; formats: string[]; formatEmbeddings: number[][] };
  text: { head: string; centroidHead: string; foreignHead: string; anonymousHead: string; variantHead: string; sentences: string[]; embeddings: number[][]; labels: string[] };
}

declare module 'vitest' {
  export interface ProvidedContext {
    rawReference: RawReference;
  }
}

const rows = (x: Float32Array[]) => x.map((r) => Array.from(r));

export default async function setup(project: TestProject): Promise<void> {
  const image = (await loadBackbone('mobilenetv2-int8', { modality: 'image' })).backbone as ImageBackbone;
  const trainPaths = CLASSES.flatMap((c) => [0, 1, 2, 3, 4, 5].map((i) => photo('train', c, i)));
  const trainLabels = CLASSES.flatMap((c) => Array<string>(6).fill(c));
  const trainX = await image.embed(await Promise.all(trainPaths.map(readImageFile)));
  const imageBackbone = { id: 'mobilenetv2-int8', fingerprint: image.fingerprint };
  const linear = LinearHead.fit(trainX, trainLabels, { C: 1 });
  const testPaths = CLASSES.flatMap((c) => [0, 1, 2].map((i) => photo('test', c, i)));
  const testX = await image.embed(await Promise.all(testPaths.map(readImageFile)));
  // Large photos: CIFAR-10 photos enlarged to 1600×1200 JPEGs (sharp, lanczos3), read back by the
  // SDK as the CLI reads them (decoded straight to the size the model needs).
  const sharp = (await import('sharp')).default;
  const large = await Promise.all(testPaths.slice(0, 10).map((p) => sharp(p).resize(1600, 1200, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer()));
  const { decodeImageBytes } = await import('edgehead/node');
  const largeX = await image.embed(await Promise.all(large.map((b) => decodeImageBytes(b, 'large', { shrinkTo: 256 }))));
  // The same photos as PNG (lossless) and WebP (lossy), decoded by sharp here.
  const formats = await Promise.all(
    testPaths.slice(0, 5).flatMap((p) => [sharp(p).png().toBuffer(), sharp(p).webp({ quality: 80 }).toBuffer()]),
  );
  const formatsX = await image.embed(await Promise.all(formats.map((b) => decodeImageBytes(b, 'format'))));
  await image.dispose();

  const text = (await loadBackbone('use-lite', { modality: 'text' })).backbone as TextBackbone;
  const tsv = readFileSync(join(REPO, 'models', 'examples', 'support-intents.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  const textX = await text.embed(tsv.map(([, s]) => s));
  const textLabels = tsv.map(([l]) => l);
  const textHead = LinearHead.fit(textX, textLabels, { C: 1 });
  const newX = await text.embed(NEW_SENTENCES);
  const textBackbone = { id: 'use-lite', fingerprint: text.fingerprint };
  await text.dispose();

  project.provide('rawReference', {
    image: {
      head: headToJson(linear, { backbone: imageBackbone }),
      centroidHead: headToJson(CentroidHead.fit(trainX, trainLabels), { backbone: imageBackbone }),
      photos: testPaths.map((p) => readFileSync(p).toString('base64')),
      embeddings: rows(testX),
      labels: linear.predict(testX).map((p) => p.label ?? ''),
      truth: CLASSES.flatMap((c) => [c, c, c]),
      large: large.map((b) => b.toString('base64')),
      largeEmbeddings: rows(largeX),
      formats: formats.map((b) => b.toString('base64')),
      formatEmbeddings: rows(formatsX),
    },
    text: {
      head: headToJson(textHead, { backbone: textBackbone }),
      centroidHead: headToJson(CentroidHead.fit(textX, textLabels), { backbone: textBackbone }),
      // Fitted on a backbone no deployment runs.
      foreignHead: headToJson(textHead, { backbone: { id: 'minilm-l6', fingerprint: 'sha256:another-backbone' } }),
      // No backbone named at all; and use-lite's id with another fingerprint (another variant).
      anonymousHead: headToJson(textHead),
      variantHead: headToJson(textHead, { backbone: { id: 'use-lite', fingerprint: 'sha256:use-lite-normalized' } }),
      sentences: NEW_SENTENCES,
      embeddings: rows(newX),
      labels: textHead.predict(newX).map((p) => p.label ?? ''),
    },
  });
}
