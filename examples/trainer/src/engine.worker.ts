/**
 * The trainer's engine, in a Web Worker so the page never freezes: loads the backbone for the
 * chosen modality (model files served beside the page, sha256-checked and cached by
 * fetchModelFiles), embeds examples, fits heads (auto, with cross-validation), predicts.
 */
import {
  createBackbone,
  decodeBrowserImage,
  describeSpec,
  fetchModelFiles,
  fitHead,
  headToJson,
  parseHead,
  parseManifest,
  stratifiedKFold,
  fitSpec,
  type AnyBackbone,
  type AnyHead,
  type Manifest,
} from 'edgehead';
import mobilenet from 'edgehead/manifests/mobilenetv2-int8.json' with { type: 'json' };
import useLite from 'edgehead/manifests/use-lite.json' with { type: 'json' };
import openWakeWord from 'edgehead/manifests/openwakeword-embedding.json' with { type: 'json' };
import type { ExampleInput, FitResult, Modality, Request, Response } from './protocol.js';

/** Where this page serves each backbone's files (see vite.config.ts), by file key. */
function fileUrls(manifest: Manifest): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const [key, file] of Object.entries(manifest.files)) {
    const source = file.sources.find((s) => 'package' in s || 'url' in s);
    const name = source && 'path' in source ? source.path.split('/').pop()! : source && 'url' in source ? source.url.split('/').pop()! : key;
    urls[key] = manifest.modality === 'image' ? `/models/${name}` : manifest.modality === 'text' ? `/use-lite/${name}` : `/oww/${name}`;
  }
  return urls;
}

const MANIFESTS: Record<Modality, unknown> = { image: mobilenet, text: useLite, audio: openWakeWord };

let backbone: AnyBackbone | undefined;
let head: AnyHead | undefined;

const post = (message: Response, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(message, transfer);

async function load(modality: Modality): Promise<void> {
  const started = performance.now();
  await backbone?.dispose();
  backbone = undefined;
  head = undefined;
  const manifest = parseManifest(MANIFESTS[modality]);
  const files = await fetchModelFiles(manifest, { urls: fileUrls(manifest) });
  backbone = await createBackbone(manifest, files, { device: 'auto', wasmPaths: '/ort/', tfjsWasmPaths: '/tfjs-wasm/' });
  post({
    type: 'loaded',
    info: { backbone: backbone.id, dim: backbone.dim, device: backbone.device, fingerprint: backbone.fingerprint, deviceReport: backbone.deviceReport, loadMs: performance.now() - started },
  });
}

async function embed(inputs: ExampleInput[]): Promise<void> {
  if (!backbone) throw new Error('Load a backbone first.');
  const out: Float32Array[] = [];
  // Small batches: progress shows, and a phone never holds hundreds of decoded photos at once.
  for (let i = 0; i < inputs.length; i += 8) {
    const slice = inputs.slice(i, i + 8);
    if (backbone.modality === 'image') {
      const images = await Promise.all(slice.map((s) => (s.kind === 'image' ? decodeBrowserImage(s.blob) : Promise.reject(new Error('not an image')))));
      out.push(...(await backbone.embed(images)));
    } else if (backbone.modality === 'text') {
      out.push(...(await backbone.embed(slice.map((s) => (s.kind === 'text' ? s.text : '')))));
    } else {
      out.push(...(await backbone.embed(slice.map((s) => (s.kind === 'audio' ? { samples: s.samples, sampleRate: s.sampleRate } : { samples: new Float32Array(0), sampleRate: 16000 })))));
    }
    post({ type: 'progress', done: out.length, total: inputs.length });
  }
  post({ type: 'embedded', embeddings: out }, out.map((e) => e.buffer as ArrayBuffer));
}

async function fit(embeddings: Float32Array[], labels: string[]): Promise<void> {
  if (!backbone) throw new Error('Load a backbone first.');
  const report = await fitHead(embeddings, labels, { head: 'auto', seed: 0 });
  head = report.head;
  const cv = report.crossValidation;
  // Out-of-fold open-set distances, so the slider shows what a threshold does to examples the head did not see.
  const result: FitResult = {
    head: describeSpec(report.spec),
    tried: report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy })),
    threshold: head.openSet?.threshold,
    heldOut: head.openSet ? await heldOutDistances(embeddings, labels, report.spec) : undefined,
    headJson: headToJson(head, { backbone: { id: backbone.id, fingerprint: backbone.fingerprint } }),
    cv: cv && {
      accuracy: cv.accuracy,
      macroF1: cv.macroF1,
      labels: cv.labels,
      confusion: cv.confusion,
      recall: Object.fromEntries(Object.entries(cv.perClass).map(([label, m]) => [label, m.recall])),
      folds: cv.folds,
    },
  };
  post({ type: 'fitted', result });
}

/** Out-of-fold distances for the threshold slider: each example scored by a head fitted without it. */
async function heldOutDistances(embeddings: Float32Array[], labels: string[], spec: Parameters<typeof fitSpec>[2]): Promise<number[]> {
  const distances = new Array<number>(labels.length).fill(NaN);
  const smallest = Math.min(...Object.values(labels.reduce<Record<string, number>>((c, l) => ((c[l] = (c[l] ?? 0) + 1), c), {})));
  for (const fold of stratifiedKFold(labels, Math.min(5, smallest), 0)) {
    const h = await fitSpec(fold.train.map((i) => embeddings[i]), fold.train.map((i) => labels[i]), spec);
    h.predict(fold.validation.map((i) => embeddings[i]), { rejectUnknown: false }).forEach((p, j) => (distances[fold.validation[j]] = p.distance));
  }
  return distances;
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case 'load':
        return await load(request.modality);
      case 'embed':
        return await embed(request.inputs);
      case 'fit':
        return await fit(request.embeddings, request.labels);
      case 'predict':
        if (!head) throw new Error('Train (or import) a head first.');
        return post({ type: 'predicted', predictions: head.predict(request.embeddings, { topK: 3, threshold: request.threshold }) });
      case 'import': {
        const loaded = parseHead(request.headJson);
        if (backbone && loaded.backbone && loaded.backbone.fingerprint !== backbone.fingerprint) {
          throw new Error(`This head was trained on ${loaded.backbone.id}; choose that backbone first.`);
        }
        head = loaded.head;
        return post({ type: 'imported', labels: [...head.labels], head: head.kind });
      }
    }
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
};
