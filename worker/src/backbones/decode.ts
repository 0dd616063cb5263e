/**
 * Encoded images → pixels inside the Worker, with jSquash's WASM builds of the codecs browsers
 * and libvips use (MozJPEG, libwebp, the Rust png crate): JPEG, PNG and WebP. The size is read
 * from the header first, so an image over the pixel limit is refused before any memory is spent
 * on it. Large images are shrunk right after decoding (area average) to the size the model's
 * resize needs, as the SDK does in Node, so only small images stay in memory.
 */
import { decodeSizeFor, type DecodedImage, type ImageSpec } from 'edgehead';
import decodeJpeg, { init as initJpeg } from '@jsquash/jpeg/decode';
import decodePng, { init as initPng } from '@jsquash/png/decode';
import decodeWebp, { init as initWebp } from '@jsquash/webp/decode';
import jpegWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
// @ts-expect-error -- the package types this file as the instance's exports; bundlers import the compiled module.
import pngWasm from '@jsquash/png/codec/pkg/squoosh_png_bg.wasm';
import webpWasm from '@jsquash/webp/codec/dec/webp_dec.wasm';
import { ApiError, badRequest } from '../errors.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp';

const start: Record<ImageFormat, () => Promise<unknown>> = {
  jpeg: () => initJpeg(jpegWasm),
  png: () => initPng(pngWasm),
  webp: () => initWebp(webpWasm),
};
const started: Partial<Record<ImageFormat, Promise<unknown>>> = {};

/**
 * A codec's WebAssembly memory grows to the largest image it decoded and never shrinks: after an
 * image over this many pixels, the JPEG and WebP decoders start again from a fresh instance (a few
 * milliseconds), so one large photo does not keep 30 MB of an isolate's 128 MB. (The PNG decoder's
 * glue cannot be restarted; it keeps its memory.)
 */
const RESTART_AFTER_PIXELS = 1_000_000;

/** The format and size an image's header declares; undefined when it is none of the three. */
export function imageHeader(bytes: Uint8Array): { format: ImageFormat; width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (at: number, n: number) => String.fromCharCode(...bytes.subarray(at, at + n));
  if (bytes.length >= 24 && view.getUint32(0) === 0x89504e47 && ascii(12, 4) === 'IHDR') {
    return { format: 'png', width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 30 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') {
    const chunk = ascii(12, 4);
    if (chunk === 'VP8 ') return { format: 'webp', width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (chunk === 'VP8L') {
      const b = view.getUint32(21, true);
      return { format: 'webp', width: (b & 0x3fff) + 1, height: ((b >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8X') {
      const w = bytes[24] | (bytes[25] << 8) | (bytes[26] << 16);
      const h = bytes[27] | (bytes[28] << 8) | (bytes[29] << 16);
      return { format: 'webp', width: w + 1, height: h + 1 };
    }
    return undefined;
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the marker segments to the first start-of-frame (SOF0–SOF15 except DHT, JPG and DAC).
    // Anything the decoder would read differently is refused rather than guessed at: a marker
    // without a length (TEM, RSTn), another SOI, an EOI or the scan before any frame, stray bytes.
    let at = 2;
    while (at + 9 < bytes.length) {
      if (bytes[at] !== 0xff) return undefined;
      const marker = bytes[at + 1];
      if (marker === 0xff) {
        at++; // fill byte
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xda)) return undefined;
      const length = view.getUint16(at + 2);
      if (length < 2) return undefined;
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format: 'jpeg', height: view.getUint16(at + 5), width: view.getUint16(at + 7) };
      }
      at += 2 + length;
    }
    return undefined;
  }
  return undefined;
}

/**
 * Decodes one image (RGBA; transparency and grey are handled by the SDK's preprocessing, as for
 * browser pixels) and shrinks it to what `spec` needs. `source` names it in errors.
 */
export async function decodeImage(bytes: Uint8Array, spec: ImageSpec, maxPixels: number, source: string): Promise<DecodedImage> {
  if (bytes.length === 0) throw badRequest('UNREADABLE_IMAGE', `${source} is empty (0 bytes); send the image file.`);
  const header = imageHeader(bytes);
  if (!header) {
    throw badRequest('UNREADABLE_IMAGE', `${source} is not a JPEG, PNG or WebP image (its first bytes say otherwise). Send the encoded file, not pixels; convert GIF, TIFF or AVIF to PNG first.`);
  }
  const { format, width, height } = header;
  if (width < 1 || height < 1) throw badRequest('UNREADABLE_IMAGE', `${source} declares a ${width}×${height} ${format} image; it is damaged.`);
  if (width * height > maxPixels) {
    throw new ApiError(
      413,
      'IMAGE_TOO_LARGE',
      `${source} is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} megapixels); this deployment decodes at most ${(maxPixels / 1e6).toFixed(1)} (MAX_IMAGE_PIXELS). Resize it to ${decodeSizeFor(spec)} pixels on the shorter side first: the model sees no more than that.`,
    );
  }
  // The decoders fill in what a cut-off file lacks (MozJPEG only warns); libvips, which the SDK
  // uses in Node, refuses such files, and so does the worker: a truncated upload is not a photo.
  if (!hasEnd(bytes, format)) {
    throw badRequest('UNREADABLE_IMAGE', `${source} is a truncated ${format} file (its end marker is missing): the upload was cut off. Send the whole file.`);
  }
  await (started[format] ??= start[format]());
  const buffer = bytes.slice().buffer;
  let decoded: { data: Uint8ClampedArray; width: number; height: number };
  try {
    decoded =
      format === 'jpeg' ? await decodeJpeg(buffer, { preserveOrientation: true }) : format === 'png' ? await decodePng(buffer) : await decodeWebp(buffer);
  } catch (cause) {
    // The codecs throw strings or plain objects as well as Errors.
    const why = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : 'decoder error';
    throw badRequest(
      'UNREADABLE_IMAGE',
      `${source} could not be decoded as ${format} (${why}): the file is damaged, or uses an encoding the decoder does not read (such as CMYK). Re-save it as an RGB JPEG or PNG.`,
    );
  }
  if (format !== 'png' && width * height > RESTART_AFTER_PIXELS) delete started[format];
  const image: DecodedImage = { width: decoded.width, height: decoded.height, channels: 4, data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength) };
  return shrinkTo(image, decodeSizeFor(spec));
}

/**
 * Whether the file ends as its format requires: a JPEG's end-of-image marker (within the last
 * 4 KB, since some writers append padding), a PNG's IEND chunk, a WebP's whole RIFF chunk.
 */
function hasEnd(bytes: Uint8Array, format: ImageFormat): boolean {
  if (format === 'jpeg') {
    for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 4096); i--) if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
    return false;
  }
  if (format === 'png') {
    const tail = String.fromCharCode(...bytes.subarray(Math.max(0, bytes.length - 12), bytes.length - 4));
    return tail.endsWith('IEND');
  }
  const riffSize = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  return bytes.length >= riffSize + 8;
}

/**
 * Area-averages an image down by the largest whole factor that keeps its shorter side at least
 * `target`, so the model's own resize never samples a large image sparsely (aliasing).
 */
export function shrinkTo(image: DecodedImage, target: number): DecodedImage {
  const factor = Math.floor(Math.min(image.width, image.height) / target);
  if (factor < 2) return image;
  const { data } = image;
  const channels = image.channels ?? data.length / (image.width * image.height);
  const width = Math.floor(image.width / factor);
  const height = Math.floor(image.height / factor);
  const out = new Uint8Array(width * height * channels);
  const sums = new Float64Array(width * channels);
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = (y * factor + dy) * image.width * channels;
      for (let x = 0; x < width; x++) {
        const o = x * channels;
        for (let dx = 0; dx < factor; dx++) {
          const i = row + (x * factor + dx) * channels;
          for (let c = 0; c < channels; c++) sums[o + c] += data[i + c];
        }
      }
    }
    const base = y * width * channels;
    for (let i = 0; i < sums.length; i++) out[base + i] = Math.round(sums[i] / area);
  }
  return { width, height, channels: channels as 1 | 3 | 4, data: out };
}
