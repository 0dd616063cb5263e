/**
 * Node image decoding (JPEG, PNG, WebP, GIF, TIFF…) with sharp (libvips). EXIF orientation is
 * applied; transparency is composited over white (as preprocessImage does for RGBA pixels from
 * browsers); grey images come back as RGB.
 * @module
 */
import { UnreadableInputError, BackendUnavailableError } from '../../core/errors.js';
import type { DecodedImage } from './image.js';
import { readInputFile } from '../read-file.js';

type SharpFactory = typeof import('sharp');
let sharpModule: Promise<SharpFactory> | undefined;

async function loadSharp(): Promise<SharpFactory> {
  try {
    return await (sharpModule ??= import('sharp').then((m) => (m.default ?? m) as SharpFactory));
  } catch (cause) {
    sharpModule = undefined;
    throw new BackendUnavailableError('Image decoding in Node needs the "sharp" package: npm i sharp', { cause });
  }
}

export interface DecodeOptions {
  /**
   * Decode large images straight to this shorter side (libvips shrink-on-load, then lanczos3;
   * never enlarges), so a 24-megapixel photo costs well under 1 MB instead of 72, and is
   * downscaled without aliasing. The CLI passes decodeSizeFor(manifest.input.image), the size
   * the model's resize needs. Default: full size.
   */
  shrinkTo?: number;
}

/** Decodes encoded image bytes; `source` names the input in error messages. */
export async function decodeImageBytes(bytes: Uint8Array, source = 'image', options: DecodeOptions = {}): Promise<DecodedImage> {
  const sharp = await loadSharp();
  try {
    let pipeline = sharp(bytes, { failOn: 'error' }).rotate();
    if (options.shrinkTo) pipeline = pipeline.resize({ width: options.shrinkTo, height: options.shrinkTo, fit: 'outside', withoutEnlargement: true, fastShrinkOnLoad: true });
    const { data, info } = await pipeline
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels as 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (cause) {
    throw new UnreadableInputError(
      source,
      `not a readable image (${cause instanceof Error ? cause.message : String(cause)}). Supported: JPEG, PNG, WebP, GIF, TIFF, AVIF.`,
      { cause },
    );
  }
}

/** Reads and decodes an image file at full size (one argument, so `paths.map(readImageFile)` works). */
export async function readImageFile(path: string): Promise<DecodedImage> {
  return decodeImageBytes(await readInputFile(path), path);
}

/**
 * An image to send to a worker that decodes it there: the file as it is when it is a small JPEG,
 * PNG or WebP, and otherwise the pixels `decodeImageBytes(bytes, { shrinkTo })` gives, as a
 * lossless PNG. The
 * worker then sees exactly what local embedding would (libvips' shrink-on-load and lanczos3, EXIF
 * applied), and a 12-megapixel phone photo travels as ~0.1 MB instead of being refused as too large.
 */
export async function imageForUpload(bytes: Uint8Array, shrinkTo: number, source = 'image'): Promise<Uint8Array> {
  const sharp = await loadSharp();
  let width: number | undefined;
  let height: number | undefined;
  let format: string | undefined;
  try {
    ({ width, height, format } = await sharp(bytes).metadata());
  } catch {
    return bytes; // not an image sharp reads: the worker names the problem
  }
  // Workers decode JPEG, PNG and WebP; GIF, TIFF, AVIF… travel as the PNG of their pixels.
  const workerReads = format === 'jpeg' || format === 'png' || format === 'webp';
  if (workerReads && (!width || !height || Math.min(width, height) < 2 * shrinkTo)) return bytes;
  const image = await decodeImageBytes(bytes, source, { shrinkTo });
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels ?? 3 } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}
