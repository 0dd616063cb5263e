/** Reads CLI inputs for a modality: image files, WAV files, or text arguments/lines. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InvalidInputError, NotFoundError } from '../core/errors.js';
import { AUDIO_EXTENSIONS, IMAGE_EXTENSIONS } from './data.js';
import { readInputFile } from '../inputs/read-file.js';
import type { AudioClip } from '../inputs/audio/audio.js';
import { decodeWav } from '../inputs/audio/wav.js';
import type { DecodedImage } from '../inputs/image/image.js';
import type { Manifest, Modality } from '../manifest/manifest.js';
import { decodeSizeFor } from '../inputs/image/image.js';
import type { DecodeOptions } from '../inputs/image/decode-node.js';

export type ModalityInput = DecodedImage | AudioClip | string;

const MEDIA_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif|wav)$/i;

/** How the CLI decodes images for a backbone: big photos shrunk on load to what its resize needs. */
export function decodeOptionsFor(manifest: Manifest): DecodeOptions {
  return manifest.modality === 'image' ? { shrinkTo: decodeSizeFor(manifest.input.image) } : {};
}

export async function readWavFile(path: string): Promise<AudioClip> {
  return decodeWav(await readInputFile(path), path);
}

/**
 * File arguments for image/audio commands: a file, a folder (its files with the modality's
 * extensions, walked recursively, sorted), or `@list.txt` (one path per line). Lists and folders
 * keep command lines short, however many inputs there are.
 */
export async function expandFileArgs(modality: 'image' | 'audio', args: string[]): Promise<string[]> {
  const extensions = modality === 'image' ? IMAGE_EXTENSIONS : AUDIO_EXTENSIONS;
  const out: string[] = [];
  for (const a of args) {
    if (a.startsWith('@')) {
      const listed = (await readFile(a.slice(1), 'utf8').catch((cause: unknown) => {
        throw new NotFoundError(`Cannot read the input list ${a.slice(1)} (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
      })).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      out.push(...listed);
      continue;
    }
    const info = await stat(a).catch(() => undefined);
    if (info?.isDirectory()) {
      const files = (await readdir(a, { recursive: true })).map(String).filter((f) => extensions.has(extname(f).toLowerCase())).sort();
      if (files.length === 0) throw new InvalidInputError(`The folder ${a} has no ${[...extensions].join('/')} files.`);
      out.push(...files.map((f) => join(a, f)));
    } else out.push(a);
  }
  return out;
}

/** Command-line inputs, expanded: files from folders and @lists, or sentences and @sentence files. */
export function expandInputs(modality: Modality, args: string[]): Promise<string[]> {
  return modality === 'text' ? readTextInputs(args) : expandFileArgs(modality, args);
}

/** Text inputs: each argument is a sentence; `@file.txt` expands to its non-empty lines. */
export async function readTextInputs(args: string[]): Promise<string[]> {
  const sentences: string[] = [];
  for (const a of args) {
    if (a.startsWith('@')) sentences.push(...(await readFile(a.slice(1), 'utf8')).split(/\r?\n/).filter((l) => l.trim()));
    else if (MEDIA_FILE.test(a) && (await stat(a).catch(() => undefined))?.isFile()) {
      // A text backbone would embed the path itself as a sentence.
      throw new InvalidInputError(`"${a}" is a file, but this backbone embeds text. Use an ${/\.wav$/i.test(a) ? 'audio' : 'image'} backbone, or @${a} for a file of sentences.`);
    } else sentences.push(a);
  }
  return sentences;
}
