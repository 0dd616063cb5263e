/**
 * Runs inside Chromium: the SDK's browser build embeds images with onnxruntime-web, on WASM or
 * WebGPU. The test page calls window.edgeheadEmbed(); results go back as plain arrays.
 */
import { IntegrityError, OnnxImageBackbone, type DeviceReport, decodeBrowserImage, fetchModelFiles, parseManifest, type DecodedImage, type ImageManifest } from '../../src/index.js';

interface EmbedRequest {
  manifest: unknown;
  modelUrl: string;
  device: 'wasm' | 'webgpu' | 'auto';
  /** Raw RGB pixels decoded in Node, to compare runtimes without decoder differences. */
  raw?: Array<{ width: number; height: number; data: number[] }>;
  /** Encoded image URLs, decoded by the browser (Blob → ImageBitmap → canvas). */
  urls?: string[];
}

type EmbedResult = { device: string; embeddings: number[][]; report?: DeviceReport; warnings: string[] } | { error: string };

async function edgeheadEmbed(req: EmbedRequest): Promise<EmbedResult> {
  const manifest = parseManifest(req.manifest) as ImageManifest;
  const model = new Uint8Array(await (await fetch(req.modelUrl)).arrayBuffer());
  const warnings: string[] = [];
  let backbone: OnnxImageBackbone;
  try {
    backbone = await OnnxImageBackbone.create(manifest, { model }, { device: req.device, wasmPaths: '/ort/', threads: 1, onWarning: (w) => warnings.push(w) });
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
  try {
    const images: DecodedImage[] = req.raw
      ? req.raw.map((r) => ({ width: r.width, height: r.height, channels: 3, data: Uint8Array.from(r.data) }))
      : await Promise.all((req.urls ?? []).map(async (u) => decodeBrowserImage(await (await fetch(u)).blob())));
    const embeddings = await backbone.embed(images);
    return { device: backbone.device, embeddings: embeddings.map((e) => Array.from(e)), report: backbone.deviceReport, warnings };
  } finally {
    await backbone.dispose();
  }
}

/** Loads a manifest's files through fetch + Cache API twice; reports sizes and integrity errors. */
async function edgeheadFetchTwice(manifest: unknown, url: string, badSha: boolean): Promise<{ sizes: number[]; error?: string }> {
  const m = parseManifest(manifest);
  if (badSha) for (const f of Object.values(m.files)) f.sha256 = '0'.repeat(64);
  try {
    const a = await fetchModelFiles(m, { urls: { model: url }, cacheName: 'edgehead-test' });
    const b = await fetchModelFiles(m, { urls: { model: url }, cacheName: 'edgehead-test' });
    return { sizes: [a.model.length, b.model.length] };
  } catch (e) {
    return { sizes: [], error: e instanceof IntegrityError ? `IntegrityError: ${e.message}` : String(e) };
  }
}

Object.assign(globalThis, { edgeheadEmbed, edgeheadFetchTwice });
