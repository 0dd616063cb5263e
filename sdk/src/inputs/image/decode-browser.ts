/**
 * Browser image sources → decoded pixels, through an OffscreenCanvas (also in Workers with
 * createImageBitmap). ImageData passes through untouched.
 * @module
 */
import { UnreadableInputError } from '../../core/errors.js';
import type { DecodedImage } from './image.js';

export type BrowserImageSource = ImageData | ImageBitmap | HTMLCanvasElement | OffscreenCanvas | HTMLImageElement | Blob;

export async function decodeBrowserImage(source: BrowserImageSource): Promise<DecodedImage> {
  if (typeof ImageData !== 'undefined' && source instanceof ImageData) {
    return { width: source.width, height: source.height, data: source.data, channels: 4 };
  }
  let drawable: CanvasImageSource;
  try {
    drawable = typeof Blob !== 'undefined' && source instanceof Blob ? await createImageBitmap(source) : (source as CanvasImageSource);
  } catch (cause) {
    throw new UnreadableInputError('Blob', 'the browser could not decode this image; use JPEG, PNG or WebP.', { cause });
  }
  const { width, height } = drawable as { width: number; height: number };
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new UnreadableInputError('canvas', 'no 2D context available to read pixels.');
  ctx.drawImage(drawable, 0, 0);
  const data = ctx.getImageData(0, 0, width, height);
  return { width, height, data: data.data, channels: 4 };
}
