/**
 * Raw texts and images at the edge, in workerd: the Worker runs the head's backbone itself
 * (onnxruntime-web WASM for MobileNetV2, tfjs-backend-wasm for USE-lite) on files uploaded through the
 * admin route. The reference is the SDK in Node (onnxruntime-node, sharp, TF.js WASM), computed
 * by raw-reference.setup.ts: embeddings must agree (cosine) and predictions must be identical.
 */
import { env, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cosineSimilarity } from 'edgehead';
import { parseHead } from 'edgehead/heads';
import { decodeImage } from '../src/backbones/decode.js';
import { loadServedBackbone } from '../src/backbones/load.js';
import { servedManifest } from '../src/backbones/served.js';
import { ADMIN, call, isErrorBody, readResponse, tenant, upload } from './helpers.js';

const ref = inject('rawReference');
const bytesOf = (b64: string) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));

async function putFile(id: string, name: string, bytes: ArrayBuffer | Uint8Array) {
  const res = await SELF.fetch(`https://edge.test/v1/admin/backbones/${id}/files/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  return readResponse(res);
}

let t: { id: string; write: string; read: string };

beforeAll(async () => {
  for (const f of env.TEST_BACKBONE_FILES) {
    const put = await putFile(f.id, f.name, await (await env.BACKBONE_FILES.fetch(`https://files/${f.binding}`)).arrayBuffer());
    expect(put.status, JSON.stringify(put.body)).toBe(201);
  }
  t = await tenant('raw');
  await upload(t.write, 'photos', ref.image.head);
  await upload(t.write, 'intents', ref.text.head);
}, 120_000);

describe('backbone files', () => {
  it('are listed as ready once uploaded, and a file that is not the manifest\'s is refused', async () => {
    const listed = await call('GET', '/v1/backbones', { key: t.read });
    expect(listed.status).toBe(200);
    expect(listed.body.backbones.map((b: { id: string; ready: boolean }) => [b.id, b.ready])).toEqual([
      ['mobilenetv2-int8', true],
      ['use-lite', true],
    ]);
    const wrong = await putFile('use-lite', 'vocab.json', new TextEncoder().encode('[]'));
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('CHECKSUM_MISMATCH');
    expect((await putFile('use-lite', 'other.bin', new Uint8Array(4))).body.error.code).toBe('UNKNOWN_FILE');
    expect((await putFile('resnet-50', 'model', new Uint8Array(4))).body.error.code).toBe('BACKBONE_NOT_SERVED');
    const noAdmin = await SELF.fetch('https://edge.test/v1/admin/backbones/use-lite/files/vocab.json', { method: 'PUT', headers: { authorization: `Bearer ${t.write}` }, body: '[]' });
    expect(noAdmin.status).toBe(401);
  });
});

describe('images', () => {
  it("embed in the Worker as the SDK does in Node (jSquash+onnxruntime-web vs sharp+onnxruntime-node): JPEG, PNG, WebP", async () => {
    const manifest = servedManifest(env, 'mobilenetv2-int8');
    const { backbone } = await loadServedBackbone(env.BLOBS, manifest);
    if (manifest.modality !== 'image' || backbone.modality !== 'image') throw new Error('image backbone expected');
    const minCosine = async (files: string[], reference: number[][]) => {
      const decoded = await Promise.all(files.map((p, i) => decodeImage(bytesOf(p), manifest.input.image, 4e6, `photo ${i}`)));
      const rows = await backbone.embed(decoded);
      return Math.min(...rows.map((r, i) => cosineSimilarity(r, Float32Array.from(reference[i]))));
    };
    const jpeg = await minCosine(ref.image.photos, ref.image.embeddings);
    const pngAndWebp = await minCosine(ref.image.formats, ref.image.formatEmbeddings);
    console.log(`image embeddings, Worker vs SDK in Node: min cosine ${jpeg.toFixed(7)} over 30 CIFAR-10 JPEGs, ${pngAndWebp.toFixed(7)} over 5 as PNG and 5 as WebP`);
    expect(jpeg).toBeGreaterThanOrEqual(0.999);
    expect(pngAndWebp).toBeGreaterThanOrEqual(0.999);
  });

  it('large photos: decoded whole, shrunk by area averaging, close to the SDK decoding them straight to size (sharp)', async () => {
    const manifest = servedManifest(env, 'mobilenetv2-int8');
    const { backbone } = await loadServedBackbone(env.BLOBS, manifest);
    if (manifest.modality !== 'image' || backbone.modality !== 'image') throw new Error('image backbone expected');
    const decoded = await Promise.all(ref.image.large.map((p, i) => decodeImage(bytesOf(p), manifest.input.image, 4e6, `large ${i}`)));
    // The largest whole factor keeping the shorter side ≥ 256 (the manifest's resizeShorterTo): 1200 / 256 → 4.
    expect(decoded.map((d) => [d.width, d.height])).toEqual(decoded.map(() => [400, 300]));
    const rows = await backbone.embed(decoded);
    const cosines = rows.map((r, i) => cosineSimilarity(r, Float32Array.from(ref.image.largeEmbeddings[i])));
    const { head } = parseHead(ref.image.head);
    const here = head.predict(rows).map((p) => p.label);
    const there = head.predict(ref.image.largeEmbeddings.map((r) => Float32Array.from(r))).map((p) => p.label);
    const agree = here.filter((l, i) => l === there[i]).length;
    console.log(
      `1600×1200 photos, Worker (MozJPEG, 4×4 area average, bilinear) vs SDK in Node (libvips shrink-on-load, lanczos3): ` +
        `min cosine ${Math.min(...cosines).toFixed(4)}, mean ${(cosines.reduce((a, b) => a + b, 0) / cosines.length).toFixed(4)}; same label ${agree}/${here.length}`,
    );
    // Not equal: two different resamplers. The int8 model is that sensitive to resampling in the SDK too
    // (the same photo resized by sharp to 400×300 and then by the SDK's bilinear step: cosine 0.959 to this reference).
    expect(Math.min(...cosines)).toBeGreaterThanOrEqual(0.92);
    expect(agree).toBeGreaterThanOrEqual(8);
  });

  it('classify as base64 JSON and as multipart files with the labels the SDK predicts locally', async () => {
    const json = await call('POST', '/v1/heads/photos/classify', { key: t.read, body: { images: ref.image.photos } });
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    expect(json.body.predictions.map((p: { label: string }) => p.label)).toEqual(ref.image.labels);

    const form = new FormData();
    ref.image.photos.slice(0, 5).forEach((p, i) => form.append('image', new File([bytesOf(p)], `photo-${i}.jpg`, { type: 'image/jpeg' })));
    form.append('topK', '2');
    const multipart = await readResponse(await SELF.fetch('https://edge.test/v1/heads/photos/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: form }));
    expect(multipart.status, JSON.stringify(multipart.body)).toBe(200);
    expect(multipart.body.predictions.map((p: { label: string }) => p.label)).toEqual(ref.image.labels.slice(0, 5));
    expect(multipart.body.predictions[0].topK).toHaveLength(2);
  });

  it('teach a centroid head with raw photos', async () => {
    await upload(t.write, 'photo-protos', ref.image.centroidHead);
    const added = await call('POST', '/v1/heads/photo-protos/examples', { key: t.write, body: { images: ref.image.photos.slice(0, 2), labels: ['ship', 'ship'] } });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body.ids).toEqual([0, 1]);
    // The same as multipart: files in order, one `labels` field per file.
    const form = new FormData();
    for (const p of ref.image.photos.slice(2, 4)) {
      form.append('image', new File([bytesOf(p)], 'photo.jpg'));
      form.append('labels', 'frog');
    }
    const res = await readResponse(await SELF.fetch('https://edge.test/v1/heads/photo-protos/examples', { method: 'POST', headers: { authorization: `Bearer ${t.write}` }, body: form }));
    // Ids continue after the JSON call's 0 and 1.
    expect([res.status, res.body.ids], JSON.stringify(res.body)).toEqual([201, [2, 3]]);
  });

  it('refuse bad images with a 4xx that says what is wrong, before decoding', async () => {
    const photo = bytesOf(ref.image.photos[0]);
    const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
    const cases: Array<[unknown, number, string]> = [
      [{ images: [b64(photo.slice(0, photo.length >> 1))] }, 400, 'UNREADABLE_IMAGE'], // truncated JPEG
      [{ images: [b64(photo.slice(0, Math.floor(photo.length * 0.9)))] }, 400, 'UNREADABLE_IMAGE'], // 90 %: MozJPEG alone would decode it
      [{ images: [b64(bytesOf(ref.image.formats[0]).slice(0, -20))] }, 400, 'UNREADABLE_IMAGE'], // PNG without its IEND
      [{ images: [b64(bytesOf(ref.image.formats[1]).slice(0, -20))] }, 400, 'UNREADABLE_IMAGE'], // WebP shorter than its RIFF size
      [{ images: [''] }, 400, 'UNREADABLE_IMAGE'],
      [{ images: [`data:image/jpeg;base64,${ref.image.photos[0]}`] }, 400, 'INVALID_IMAGE'],
      [{}, 400, 'INVALID_BODY'],
      [{ images: [b64(new TextEncoder().encode('not an image at all'))] }, 400, 'UNREADABLE_IMAGE'],
      [{ images: ['***'] }, 400, 'INVALID_IMAGE'],
      [{ images: [] }, 400, 'EMPTY_BATCH'],
      [{ images: Array(33).fill(ref.image.photos[0]) }, 400, 'BATCH_TOO_LARGE'],
      [{ inputs: ['a sentence'] }, 400, 'WRONG_MODALITY'],
      [{ images: [ref.image.photos[0]], embeddings: [[1]] }, 400, 'INVALID_BODY'],
    ];
    // A PNG header declaring 30000×30000 (900 megapixels): refused from the header alone.
    const huge = new Uint8Array(33);
    huge.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    new DataView(huge.buffer).setUint32(16, 30_000);
    new DataView(huge.buffer).setUint32(20, 30_000);
    cases.push([{ images: [b64(huge)] }, 413, 'IMAGE_TOO_LARGE']);
    // A JPEG declaring 30000×30000 in its frame header, and a WebP (VP8X) declaring 16384×16384.
    const jpegHeader = Uint8Array.of(0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0x75, 0x30, 0x75, 0x30, 1, 1, 0x11, 0, 0xff, 0xd9);
    cases.push([{ images: [b64(jpegHeader)] }, 413, 'IMAGE_TOO_LARGE']);
    const webp = new Uint8Array(40);
    webp.set(new TextEncoder().encode('RIFF'), 0);
    new DataView(webp.buffer).setUint32(4, 32, true);
    webp.set(new TextEncoder().encode('WEBPVP8X'), 8);
    webp.set([0xff, 0x3f, 0x00, 0xff, 0x3f, 0x00], 24); // canvas 16384 × 16384 (stored minus one)
    cases.push([{ images: [b64(webp)] }, 413, 'IMAGE_TOO_LARGE']);
    // A restart marker (no length) before the frame: libjpeg would read past it to whatever frame
    // follows, so the header cannot be trusted, and the file is refused instead of guessed at.
    const sneaky = Uint8Array.of(0xff, 0xd8, 0xff, 0xd0, 0x00, 0x0b, 0xff, 0xc0, 0, 11, 8, 0, 10, 0, 10, 1, 1, 0x11, 0, 0xff, 0xd9);
    cases.push([{ images: [b64(sneaky)] }, 400, 'UNREADABLE_IMAGE']);
    for (const [body, status, code] of cases) {
      const res = await call('POST', '/v1/heads/photos/classify', { key: t.read, body });
      expect([res.status, res.body.error?.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
      expect(isErrorBody(res.body)).toBe(true);
      expect(res.body.error.message).not.toMatch(/\[object/);
    }
    // A form with fields but no file.
    const form = new FormData();
    form.append('topK', '2');
    const empty = await readResponse(await SELF.fetch('https://edge.test/v1/heads/photos/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: form }));
    expect([empty.status, empty.body.error.code]).toEqual([400, 'EMPTY_BATCH']);
    // Form fields are text: topK=05 is the number 5.
    const padded = new FormData();
    padded.append('image', new File([photo], 'photo.jpg'));
    padded.append('topK', '05');
    const five = await readResponse(await SELF.fetch('https://edge.test/v1/heads/photos/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: padded }));
    expect([five.status, five.body.predictions?.[0].topK.length]).toEqual([200, 5]);
    // Labels that do not match the examples are refused before anything is decoded or embedded.
    const mismatch = await call('POST', '/v1/heads/photo-protos/examples', { key: t.write, body: { images: ref.image.photos.slice(0, 2), labels: ['ship'] } });
    expect([mismatch.status, mismatch.body.error.code, mismatch.body.error.message]).toEqual([400, 'INVALID_FIELD', '"labels" has 1 entries for 2 images; send one label per example.']);
  });
});

describe('texts', () => {
  // The same UseBackbone code runs on both sides, so this checks the Worker's wiring (files from R2,
  // the precompiled tfjs-backend-wasm binary, its loader under nodejs_compat), not the model code.
  it('embed in the Worker as the SDK does in Node (tfjs-backend-wasm, its binary compiled at deploy time)', async () => {
    const manifest = servedManifest(env, 'use-lite');
    const { backbone } = await loadServedBackbone(env.BLOBS, manifest);
    if (backbone.modality !== 'text') throw new Error('text backbone expected');
    const rows = await backbone.embed(ref.text.sentences);
    const cosines = rows.map((r, i) => cosineSimilarity(r, Float32Array.from(ref.text.embeddings[i])));
    console.log(`text embeddings, Worker vs SDK in Node: min cosine ${Math.min(...cosines).toFixed(7)} over ${cosines.length} sentences`);
    expect(Math.min(...cosines)).toBeGreaterThanOrEqual(0.999);
  });

  it("classify the demo's sentences with the labels the SDK predicts locally, and teach with texts", async () => {
    const res = await call('POST', '/v1/heads/intents/classify', { key: t.read, body: { inputs: ref.text.sentences } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.predictions.map((p: { label: string }) => p.label)).toEqual(ref.text.labels);

    const form = new FormData();
    for (const sentence of ref.text.sentences) form.append('inputs', sentence);
    const viaForm = await readResponse(await SELF.fetch('https://edge.test/v1/heads/intents/classify', { method: 'POST', headers: { authorization: `Bearer ${t.read}` }, body: form }));
    expect(viaForm.body.predictions?.map((p: { label: string }) => p.label), JSON.stringify(viaForm.body)).toEqual(ref.text.labels);

    await upload(t.write, 'intent-protos', ref.text.centroidHead);
    const taught = await call('POST', '/v1/heads/intent-protos/examples', { key: t.write, body: { inputs: ['where is my order number 5521'], labels: ['track_order'] } });
    expect(taught.status, JSON.stringify(taught.body)).toBe(201);
  });

  it('refuse empty, overlong and wrong-modality texts', async () => {
    const cases: Array<[unknown, string]> = [
      [{ inputs: [''] }, 'EMPTY_TEXT'],
      [{ inputs: ['   '] }, 'EMPTY_TEXT'],
      [{ inputs: ['x'.repeat(10_001)] }, 'TEXT_TOO_LONG'],
      [{ inputs: 'one string' }, 'INVALID_FIELD'],
      [{ images: [ref.image.photos[0]] }, 'WRONG_MODALITY'],
    ];
    for (const [body, code] of cases) {
      const res = await call('POST', '/v1/heads/intents/classify', { key: t.read, body });
      expect([res.status, res.body.error?.code]).toEqual([400, code]);
    }
  });

  it('a head without a backbone, or on another variant of a served one, asks for embeddings', async () => {
    expect((await upload(t.write, 'anonymous', ref.text.anonymousHead)).status).toBe(201);
    const anonymous = await call('POST', '/v1/heads/anonymous/classify', { key: t.read, body: { inputs: ['hello'] } });
    expect([anonymous.status, anonymous.body.error.code]).toEqual([400, 'NO_BACKBONE']);
    expect((await upload(t.write, 'variant', ref.text.variantHead)).status).toBe(201);
    const variant = await call('POST', '/v1/heads/variant/classify', { key: t.read, body: { inputs: ['hello'] } });
    expect([variant.status, variant.body.error.code]).toEqual([409, 'BACKBONE_MISMATCH']);
  });

  it('a head whose backbone the deployment does not run asks for embeddings', async () => {
    expect((await upload(t.write, 'elsewhere', ref.text.foreignHead)).status).toBe(201);
    const res = await call('POST', '/v1/heads/elsewhere/classify', { key: t.read, body: { inputs: ['hello'] } });
    expect([res.status, res.body.error.code]).toEqual([400, 'BACKBONE_NOT_SERVED']);
    expect(res.body.error.message).toMatch(/Send embeddings/);
  });
});
