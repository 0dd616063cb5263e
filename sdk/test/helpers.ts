import { readFileSync } from 'node:fs';
import { vi } from 'vitest';
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

/** Captures what the CLI writes (call inside a test; restore with vi.restoreAllMocks()). */
export function capture() {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
  return { stdout: () => stdout.join(''), stderr: () => stderr.join('') };
}
