import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseManifest, type Manifest } from '../src/manifest/manifest.js';

export const REPO = resolve(import.meta.dirname, '..', '..');
/** The shared models and data, read in place (configurable like the SDK itself). */
export const SHARED = resolve(process.env.EDGEHEAD_SHARED_DIR ?? join(REPO, '..', 'shared'));

export function manifest(id: string): Manifest {
  return parseManifest(JSON.parse(readFileSync(join(REPO, 'models', 'manifests', `${id}.json`), 'utf8')));
}

export function cifar(split: 'train' | 'test', cls: string, index: number): string {
  return join(SHARED, 'data', 'cifar10', split, cls, `${String(index).padStart(4, '0')}.jpg`);
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
