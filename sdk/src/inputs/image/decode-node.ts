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

/** Decodes encoded image bytes; `source` names the input in error messages. */
export async function decodeImageBytes(bytes: Uint8Array, source = 'image'): Promise<DecodedImage> {
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .rotate()
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

export async function readImageFile(path: string): Promise<DecodedImage> {
  return decodeImageBytes(await readInputFile(path), path);
}
