import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Matrix } from '../src/heads/matrix.js';
import { REPO } from './helpers.js';

export type LabelledMatrix = Matrix & { labels: string[] };

/** Real embeddings committed with the scikit-learn fixtures (see models/fixtures/sklearn). */
export function fixture(name: 'cifar10-mobilenetv2' | 'fsdd-openwakeword' | 'fsdd-speakers-openwakeword'): {
  train: LabelledMatrix;
  test: LabelledMatrix;
  fingerprint: string;
  /** FSDD: the speaker of each row (split: takes 0–4 train, 5–9 test). */
  trainGroups: string[];
  testGroups: string[];
} {
  const dir = join(REPO, 'models', 'fixtures', 'sklearn');
  const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { dim: number; labels: string[]; split: string[]; fingerprint: string; groups?: string[] };
  const bytes = readFileSync(join(dir, `${name}.f32`));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const pick = (which: string): LabelledMatrix => {
    const idx = meta.split.flatMap((s, i) => (s === which ? [i] : []));
    const data = new Float32Array(idx.length * meta.dim);
    idx.forEach((r, i) => data.set(all.subarray(r * meta.dim, (r + 1) * meta.dim), i * meta.dim));
    return { rows: idx.length, cols: meta.dim, data, labels: idx.map((i) => meta.labels[i]) };
  };
  const groupsOf = (which: string) => (meta.groups ? meta.groups.filter((_, i) => meta.split[i] === which) : []);
  return { train: pick('train'), test: pick('test'), fingerprint: meta.fingerprint, trainGroups: groupsOf('train'), testGroups: groupsOf('test') };
}

export function subset(m: LabelledMatrix, keep: (label: string, i: number) => boolean): LabelledMatrix {
  const idx = m.labels.flatMap((l, i) => (keep(l, i) ? [i] : []));
  const data = new Float32Array(idx.length * m.cols);
  idx.forEach((r, i) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return { rows: idx.length, cols: m.cols, data, labels: idx.map((i) => m.labels[i]) };
}
