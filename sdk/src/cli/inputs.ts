/** Reads CLI inputs for a modality: image files, WAV files, or text arguments/lines. */
import { readFile } from 'node:fs/promises';
import { readInputFile } from '../inputs/read-file.js';
import type { AudioClip } from '../inputs/audio/audio.js';
import { decodeWav } from '../inputs/audio/wav.js';
import { readImageFile } from '../inputs/image/decode-node.js';
import type { DecodedImage } from '../inputs/image/image.js';
import type { Modality } from '../manifest/manifest.js';

export type ModalityInput = DecodedImage | AudioClip | string;

export async function readWavFile(path: string): Promise<AudioClip> {
  return decodeWav(await readInputFile(path), path);
}

/** For text, each argument is a sentence; `@file.txt` expands to its non-empty lines. */
export async function readInputs(modality: Modality, args: string[]): Promise<{ labels: string[]; inputs: ModalityInput[] }> {
  if (modality === 'text') {
    const labels: string[] = [];
    for (const a of args) {
      if (a.startsWith('@')) labels.push(...(await readFile(a.slice(1), 'utf8')).split(/\r?\n/).filter((l) => l.trim()));
      else labels.push(a);
    }
    return { labels, inputs: labels };
  }
  const read = modality === 'image' ? readImageFile : readWavFile;
  return { labels: args, inputs: await Promise.all(args.map((p) => read(p))) };
}
