import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxImageBackbone } from '../src/backbone/onnx/image-backbone.js';
import { cutModel, summarizeModel } from '../src/backbone/onnx/graph.js';
import { IntegrityError, ModelMismatchError, TensorNotFoundError } from '../src/core/errors.js';
import { argmax, cosineSimilarity } from '../src/core/vector.js';
import { readImageFile } from '../src/inputs/image/decode-node.js';
import type { DecodedImage } from '../src/inputs/image/image.js';
import { loadModelFilesNode } from '../src/manifest/files-node.js';
import type { ImageManifest } from '../src/manifest/manifest.js';
import { cifar, manifest, SHARED } from './helpers.js';

const CLASSES = ['airplane', 'automobile', 'ship', 'truck', 'cat', 'dog', 'frog', 'horse'];
let photos: DecodedImage[];
const open: OnnxImageBackbone[] = [];

async function backbone(id: string, device: 'node' | 'wasm', edit?: (m: ImageManifest) => void) {
  const m = structuredClone(manifest(id)) as ImageManifest;
  edit?.(m);
  const b = await OnnxImageBackbone.create(m, await loadModelFilesNode(m), { device });
  open.push(b);
  return b;
}

beforeAll(async () => {
  photos = await Promise.all(CLASSES.map((c, i) => readImageFile(cifar('test', c, i))));
});
afterAll(async () => {
  await Promise.all(open.map((b) => b.dispose()));
});

describe('MobileNetV2 on real CIFAR-10 photos', () => {
  it('onnxruntime-web (wasm) and onnxruntime-node give the same embeddings', async () => {
    for (const id of ['mobilenetv2-int8', 'mobilenetv2-fp32']) {
      const [viaNode, viaWasm] = await Promise.all([backbone(id, 'node'), backbone(id, 'wasm')]);
      expect(viaNode.device).toBe('node');
      expect(viaWasm.device).toBe('wasm');
      const a = await viaNode.embed(photos);
      const b = await viaWasm.embed(photos);
      expect(a).toHaveLength(photos.length);
      a.forEach((e, i) => {
        expect(e).toHaveLength(1280);
        expect(cosineSimilarity(e, b[i])).toBeGreaterThanOrEqual(0.999);
      });
    }
  });

  it('cutting the int8 classifier at 472_quantized equals the features output of the -features model', async () => {
    const cut = await backbone('mobilenetv2-int8', 'node');
    const reference = await backbone('mobilenetv2-int8-features', 'node');
    const a = await cut.embed(photos);
    const b = await reference.embed(photos);
    a.forEach((e, i) => {
      const maxDiff = Math.max(...e.map((v, j) => Math.abs(v - b[i][j])));
      expect(maxDiff).toBeLessThan(1e-6);
    });
  });

  it('the cut graph keeps only what feeds the cut: no classifier nodes, one output', () => {
    const bytes = readFileSync(join(SHARED, 'models', 'mobilenetv2-12-int8.onnx'));
    const cut = cutModel(bytes, { tensor: '472_quantized' });
    expect(cut.dequantized).toBe(true);
    const summary = summarizeModel(cut.bytes);
    expect(summary.outputs.map((o) => o.name)).toEqual(['472_quantized_dequantized']);
    const ops = summary.tensors.map((t) => t.name);
    expect(ops).not.toContain('output_MatMul_quantized');
    expect(ops).not.toContain('output');
  });

  it('gives sensible ImageNet classes from the logits (vehicles → vehicle synsets)', async () => {
    // ImageNet-1k indices of road vehicles (cab, convertible, jeep, limousine, minivan, pickup,
    // racer, sports car, Model T, trailer truck, fire engine, garbage truck, moving van, tow truck,
    // police van, beach wagon, grille, car wheel) — from the published ILSVRC class list.
    const vehicles = new Set([468, 511, 609, 627, 656, 717, 751, 817, 661, 867, 555, 569, 675, 864, 734, 436, 581, 479]);
    const b = await backbone('mobilenetv2-int8-features', 'node');
    const images = await Promise.all(
      ['automobile', 'truck'].flatMap((c) => Array.from({ length: 20 }, (_, i) => readImageFile(cifar('test', c, i)))),
    );
    const { logits } = await b.embedWithLogits(images);
    const hits = logits.filter((l) => vehicles.has(argmax(l))).length;
    // 32x32 photos blown up to 224: measured 17/40; chance is 18/1000 per image.
    expect(hits / images.length).toBeGreaterThanOrEqual(0.3);
  });
});

describe('bad models and manifests', () => {
  it('a cut tensor that does not exist lists the nearby names', async () => {
    const err = await backbone('mobilenetv2-int8', 'node', (m) => (m.output.tensor = '472_quantize')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TensorNotFoundError);
    expect((err as TensorNotFoundError).suggestions).toContain('472_quantized');
    expect((err as Error).message).toMatch(/models info/);
  });

  it('a manifest whose input size does not match the model is refused', async () => {
    const err = await backbone('mobilenetv2-fp32', 'node', (m) => {
      m.input.image.width = 299;
      m.input.image.height = 299;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelMismatchError);
    expect((err as Error).message).toMatch(/299/);
  });

  it('a model file whose sha256 does not match is never run', async () => {
    const m = structuredClone(manifest('mobilenetv2-int8'));
    m.files.model.sha256 = '0'.repeat(64);
    await expect(loadModelFilesNode(m)).rejects.toBeInstanceOf(IntegrityError);
  });
});
