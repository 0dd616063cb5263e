/**
 * Fine-tuning, step 1 (issue 14): the top of MobileNetV2 (fp32) translated to TF.js. References:
 * onnxruntime's own outputs on real photos (the translated top must reproduce the model's
 * embedding from the activations at the cut), and central finite differences for the gradients.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { loadBackbone } from '../src/node.js';
import { cutModel } from '../src/backbone/onnx/graph.js';
import { OnnxSession } from '../src/backbone/onnx/session.js';
import { loadTrainingTf, translateTop } from '../src/finetune/onnx-to-tfjs.js';
import { fineTune } from '../src/finetune/train.js';
import { trainableMatMul } from '../src/finetune/matmul.js';
import { imagesToTensor } from '../src/inputs/image/image.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import { capture, cifar, manifest, SHARED } from './helpers.js';

const CLASSES = ['airplane', 'cat', 'ship', 'truck'];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
let model: Uint8Array;
let tf: Awaited<ReturnType<typeof loadTrainingTf>>;
/** Per cut tensor: onnxruntime's activations there (NCHW) and its `features` output, for 8 real photos. */
const reference = new Map<string, { activations: { data: Float32Array; dims: number[] }; features: { data: Float32Array; dims: number[] } }>();

beforeAll(async () => {
  model = new Uint8Array(await readFile(join(SHARED, 'models', 'mobilenetv2-12-fp32-features.onnx')));
  tf = await loadTrainingTf();
  const spec = manifest('mobilenetv2-fp32');
  if (spec.modality !== 'image') throw new Error('expected an image manifest');
  const images = await Promise.all(CLASSES.flatMap((c) => [0, 1].map((i) => readImageFile(cifar('test', c, i)))));
  const input = imagesToTensor(images, spec.input.image);
  for (const tensor of ['452_quantized', '426_quantized']) {
    const cut = cutModel(model, { tensor, keepOutputs: ['features'] });
    const session = await OnnxSession.create(cut.bytes, `cut at ${tensor}`);
    const out = await session.run({ input: { type: 'float32', data: input.data, dims: input.dims } }, [cut.outputName, 'features']);
    reference.set(tensor, { activations: out[cut.outputName], features: out.features });
    await session.release();
  }
}, 120_000);

describe('ONNX → TF.js top of a backbone', () => {
  for (const from of ['452_quantized', '426_quantized']) {
    it(`from ${from} to features: the same embeddings as onnxruntime on real photos (max |diff| ≤ 1e-4)`, () => {
      const top = translateTop(tf, model, { from, to: 'features' });
      const { activations, features } = reference.get(from)!;
      const out = top.apply(tf.tensor(activations.data, activations.dims));
      const got = out.dataSync();
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - features.data[i]));
      console.log(`${from} → features: ${top.ops.length} ops (${[...new Set(top.ops)].join(', ')}), ${top.variables.size} weight tensors, max |diff| ${maxDiff.toExponential(2)}`);
      expect(out.shape).toEqual(features.dims);
      expect(maxDiff).toBeLessThanOrEqual(1e-4);
      out.dispose();
      top.dispose();
    });
  }

  // The last conv's bias (1280 values), the last block's expanding 1×1 conv (its gradient is
  // trainableMatMul's), and the weights of the stride-2 depthwise conv that the top from
  // 426_quantized begins with (its taps are strided windows: they must have gradients).
  // For the 1×1 conv: a step small enough not to cross ReLU6's kinks (one weight moves 98
  // pre-activations, 2 photos × 7 × 7; with h = 1e-2 the differences were 1.5 % off), at its
  // three largest gradients, where float32 differences of the loss resolve them.
  for (const [from, name, h, positions] of [
    ['452_quantized', '629_quantized__f', 1e-2, 'fixed'],
    ['452_quantized', '619_quantized__f', 1e-3, 'largest'],
    ['426_quantized', '595_quantized__f', 1e-2, 'fixed'],
  ] as const) {
    it(`gradients match central finite differences (${name}, top from ${from})`, () => {
      const top = translateTop(tf, model, { from, to: 'features' });
      const { activations } = reference.get(from)!;
      // Two of the photos: enough for a gradient, and six forward passes of three blocks stay short.
      const x = tf.slice(tf.tensor(activations.data, activations.dims), 0, 2);
      // A scalar of the output that depends smoothly on the weights: a fixed random projection.
      const projection = tf.tensor1d(Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i * 12.9898) * 0.1));
      const loss = () => tf.sum(tf.mul(top.apply(x), projection)) as ReturnType<typeof tf.scalar>;
      const weight = top.variables.get(name)!;
      const { grads } = tf.variableGrads(loss, [weight]);
      const analytic = grads[weight.name].dataSync();
      const original = weight.dataSync().slice();
      const largest = Array.from(analytic.keys()).sort((i, j) => Math.abs(analytic[j]) - Math.abs(analytic[i]));
      for (const k of positions === 'fixed' ? [3, 500, original.length - 1] : largest.slice(0, 3)) {
        const at = (delta: number) => {
          const w = original.slice();
          w[k] += delta;
          weight.assign(tf.tensor(w, weight.shape));
          return loss().dataSync()[0];
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(analytic[k] - numeric)).toBeLessThanOrEqual(1e-3 + 1e-2 * Math.abs(numeric));
      }
      weight.assign(tf.tensor(original, weight.shape));
      top.dispose();
    });
  }

  it('trainableMatMul: the product and both gradients equal tfjs-core\'s own matMul gradient', () => {
    const a = tf.tensor2d(Float32Array.from({ length: 37 * 19 }, (_, i) => Math.sin(i * 0.37)), [37, 19]);
    const b = tf.tensor2d(Float32Array.from({ length: 19 * 11 }, (_, i) => Math.cos(i * 0.53)), [19, 11]);
    const upstream = tf.tensor2d(Float32Array.from({ length: 37 * 11 }, (_, i) => Math.sin(i * 1.7)), [37, 11]);
    const through = (product: (x: typeof a, y: typeof b) => typeof a) => tf.grads((...[x, y]) => tf.sum(tf.mul(product(x as typeof a, y as typeof b), upstream)))([a, b]);
    const ours = through((x, y) => trainableMatMul(tf, x, y));
    const reference = through((x, y) => tf.matMul(x, y));
    expect(ours.map((g) => g.shape)).toEqual([[37, 19], [19, 11]]);
    for (let i = 0; i < 2; i++) expect(Array.from(ours[i].dataSync())).toEqual(Array.from(reference[i].dataSync()).map((v) => expect.closeTo(v, 5)));
    expect(Array.from(trainableMatMul(tf, a, b).dataSync())).toEqual(Array.from(tf.matMul(a, b).dataSync()));
  });

  it('exports the changed weights back into ONNX: onnxruntime on the new file equals the TF.js top (≤ 1e-4), and differs from the original', async () => {
    const top = translateTop(tf, model, { from: '426_quantized', to: 'features' });
    // Stand-in for training: every weight of the top moved by a few per cent, differently per tensor.
    let k = 0;
    for (const v of top.variables.values()) {
      const factor = 1 + 0.03 * Math.sin(++k);
      v.assign(tf.tidy(() => tf.add(tf.mul(v, factor), 0.001 * Math.cos(k))));
    }
    const exported = top.exportOnnx();
    expect(sha256(exported)).not.toBe(sha256(model));
    const { activations, features: original } = reference.get('426_quantized')!;
    const expected = top.apply(tf.tensor(activations.data, activations.dims)).dataSync();
    const session = await OnnxSession.create(exported, 'exported');
    const images = await Promise.all(CLASSES.flatMap((c) => [0, 1].map((i) => readImageFile(cifar('test', c, i)))));
    const spec = manifest('mobilenetv2-fp32');
    if (spec.modality !== 'image') throw new Error('expected an image manifest');
    const input = imagesToTensor(images, spec.input.image);
    const got = (await session.run({ input: { type: 'float32', data: input.data, dims: input.dims } }, ['features'])).features.data;
    await session.release();
    let maxDiff = 0;
    let moved = 0;
    for (let i = 0; i < got.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
      moved = Math.max(moved, Math.abs(got[i] - original.data[i]));
    }
    console.log(`exported model vs TF.js top: max |diff| ${maxDiff.toExponential(2)}; vs the original model: ${moved.toFixed(3)}`);
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    expect(moved).toBeGreaterThan(0.01);
    top.dispose();
  });

  it('refuses an op it cannot translate, by name, and a cut that a residual connection crosses', async () => {
    // The int8 original computes with quantized ops.
    const int8 = new Uint8Array(await readFile(join(SHARED, 'models', 'mobilenetv2-12-int8.onnx')));
    expect(() => translateTop(tf, int8, { from: '452_quantized', to: '472_quantized' })).toThrow(/Cannot translate op\(s\) QLinearConv.*use the fp32 model/);
    // Inside block 15 (after its expansion conv), the block's Add also needs its input from below the cut.
    expect(() => translateTop(tf, model, { from: '612_quantized', to: 'features' })).toThrow(/also needs "(443_quantized|615_quantized)[^"]*", computed below the cut.*cut at a block output/);
    expect(() => translateTop(tf, model, { from: 'nope', to: 'features' })).toThrow(/nope/);
    expect(() => translateTop(tf, model, { from: '452_quantized', to: '443_quantized' })).toThrow(/"443_quantized" is not computed from "452_quantized"/);
  });
});

describe('fine-tuning the top with a new head', () => {
  it('a short fine-tune of the last conv on 160 real photos lowers the held-out loss, reproducibly, and restores the best epoch', async () => {
    // 4 CIFAR-10 classes × 40 training photos, through the frozen base once (activations at block 16's output).
    const spec = manifest('mobilenetv2-fp32');
    if (spec.modality !== 'image') throw new Error('expected an image manifest');
    const labels = CLASSES.flatMap((c) => Array<string>(40).fill(c));
    const images = await Promise.all(CLASSES.flatMap((c) => Array.from({ length: 40 }, (_, i) => readImageFile(cifar('train', c, i)))));
    const cut = cutModel(model, { tensor: '624_quantized' });
    const session = await OnnxSession.create(cut.bytes, 'base');
    const input = imagesToTensor(images, spec.input.image);
    const activations = (await session.run({ input: { type: 'float32', data: input.data, dims: input.dims } }, [cut.outputName]))[cut.outputName];
    await session.release();

    const run = async () => {
      const top = translateTop(tf, model, { from: '624_quantized', to: 'features' });
      const result = await fineTune(tf, top, activations, labels, { epochs: 3, batchSize: 32, seed: 3 });
      const trained = top.variables.get('629_quantized__f')!.dataSync().slice();
      top.dispose();
      return { result, trained };
    };
    const first = await run();
    const { history, bestEpoch } = first.result;
    console.log(history.map((h) => `epoch ${h.epoch}: train ${h.trainLoss.toFixed(3)} / ${(100 * h.trainAccuracy).toFixed(0)} %, held out ${h.validationLoss.toFixed(3)} / ${(100 * h.validationAccuracy).toFixed(0)} %`).join('\n'));
    // Chance for 4 classes is a loss of ln 4 = 1.386; the best epoch must beat it clearly, and beat epoch 1.
    const bestLoss = history[bestEpoch - 1].validationLoss;
    expect(bestLoss).toBeLessThan(Math.log(4) - 0.3);
    expect(bestLoss).toBeLessThanOrEqual(history[0].validationLoss);
    expect(history.every((h) => h.learningRates.backbone <= 1e-4 && h.learningRates.head <= 1e-2)).toBe(true);
    // The backbone's weights moved, and the same seed gives the same run.
    const original = translateTop(tf, model, { from: '624_quantized', to: 'features' });
    const before = original.variables.get('629_quantized__f')!.dataSync();
    expect(first.trained.some((v, i) => Math.abs(v - before[i]) > 1e-6)).toBe(true);
    original.dispose();
    const second = await run();
    expect(second.result.history.map((h) => h.validationLoss)).toEqual(history.map((h) => h.validationLoss));
  }, 300_000);
});

describe('edgehead finetune', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes a new backbone (.onnx + manifest) and a head with its fingerprint; fit takes the manifest, and a head of the original refuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-finetune-'));
    for (const c of CLASSES) {
      await mkdir(join(dir, 'photos', c), { recursive: true });
      for (let i = 0; i < 12; i++) await symlink(cifar('train', c, i), join(dir, 'photos', c, `${i}.jpg`));
    }
    const io = capture();
    const out = join(dir, 'mine.onnx');
    expect(await main(['finetune', join(dir, 'photos'), '--backbone', 'mobilenetv2-fp32', '--out', out, '--epochs', '2', '--json'])).toBe(0);
    const summary = JSON.parse(io.stdout().trim().split('\n').at(-1)!) as { manifest: string; head: string; cut: string; history: unknown[] };
    expect(summary.cut).toBe('452_quantized');
    expect(summary.history.length).toBeGreaterThanOrEqual(1);
    const manifestFile = JSON.parse(await readFile(summary.manifest, 'utf8')) as { id: string; files: { model: { sha256: string; sources: Array<{ file: string }> } } };
    expect(manifestFile.id).toBe('mine');
    expect(manifestFile.files.model.sources).toEqual([{ file: 'mine.onnx' }]);
    expect(manifestFile.files.model.sha256).toBe(sha256(new Uint8Array(await readFile(out))));
    // The head finetune wrote carries the new backbone's fingerprint, and predicts.
    const head = JSON.parse(await readFile(summary.head, 'utf8')) as { backbone: { fingerprint: string } };
    const original = await loadBackbone('mobilenetv2-fp32');
    const originalFingerprint = original.backbone.fingerprint;
    await original.backbone.dispose();
    expect(head.backbone.fingerprint).not.toBe(originalFingerprint);
    expect(await main(['predict', summary.head, cifar('test', 'ship', 1), '--json'])).toBe(0);
    // fit takes the manifest like any backbone; a head fitted on the original refuses it.
    expect(await main(['fit', join(dir, 'photos'), '--backbone', summary.manifest, '--head', 'centroid', '--out', join(dir, 'c.json')])).toBe(0);
    expect(await main(['fit', join(dir, 'photos'), '--backbone', 'mobilenetv2-fp32', '--head', 'centroid', '--out', join(dir, 'orig.json')])).toBe(0);
    expect(await main(['predict', join(dir, 'orig.json'), '--backbone', summary.manifest, cifar('test', 'ship', 1)])).toBe(1);
    expect(io.stderr()).toMatch(/BACKBONE_MISMATCH/);
    // Outputs are not overwritten by accident.
    expect(await main(['finetune', join(dir, 'photos'), '--backbone', 'mobilenetv2-fp32', '--out', out])).toBe(2);
    expect(io.stderr()).toMatch(/exists; refusing to overwrite it/);
  }, 300_000);

  it('--augment n trains on each photo and n seeded views of it (flip, crop, jitter), made before the frozen part', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehead-finetune-aug-'));
    for (const c of CLASSES.slice(0, 2)) {
      await mkdir(join(dir, 'photos', c), { recursive: true });
      for (let i = 0; i < 6; i++) await symlink(cifar('train', c, i), join(dir, 'photos', c, `${i}.jpg`));
    }
    const io = capture();
    const run = async (out: string) => {
      expect(await main(['finetune', join(dir, 'photos'), '--backbone', 'mobilenetv2-fp32', '--out', join(dir, out), '--epochs', '1', '--augment', '2', '--json'])).toBe(0);
      return JSON.parse(io.stdout().trim().split('\n').at(-1)!) as { photos: number; trainingRows: number; history: Array<{ trainLoss: number }> };
    };
    const first = await run('a.onnx');
    // 12 photos, each with 2 views: 36 rows.
    expect([first.photos, first.trainingRows]).toEqual([12, 36]);
    // Seeded: the same views, so the same training.
    const again = await run('b.onnx');
    expect(again.history[0].trainLoss).toBe(first.history[0].trainLoss);
    expect(await main(['finetune', join(dir, 'photos'), '--backbone', 'mobilenetv2-fp32', '--out', join(dir, 'c.onnx'), '--augment', '33'])).toBe(2);
  }, 300_000);
});
