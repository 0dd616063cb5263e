/**
 * `node --import tsx sdk/bench/audio.bench.ts`: speaker-disjoint FSDD (train on george, jackson,
 * nicolas, yweweler; test on theo) with the openWakeWord backbone as shipped (clips centred in
 * ≥ 1.5 s of silence, ≥ 0.25 s each side) and with the old padding (one window, no context),
 * at k = 1/5/10/all takes per digit, edgehead's heads beside scikit-learn's
 * LogisticRegression on the same embeddings (sdk/bench/audio_sklearn.py). Embeddings are
 * cached in .cache/embeddings; the script also writes them to .cache/bench-audio for Python.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Backbone } from '../src/backbone/backbone.js';
import { fitHead } from '../src/heads/fit.js';
import { selectRows, type Matrix } from '../src/heads/matrix.js';
import { sampleFewShot } from '../src/heads/split.js';
import { createBackbone, loadModelFilesNode, resolveManifest } from '../src/node.js';
import { embedCached, fsdd, readAudio } from './datasets.js';

const OUT = join(import.meta.dirname, '..', '..', '.cache', 'bench-audio');
const SHOTS = [1, 5, 10, 'all'] as const;
const SEEDS = Number(process.env.BENCH_SEEDS ?? 5);
const PYTHON = process.env.SKLEARN_PYTHON ?? '/usr/bin/python3';

async function embedAll(recipe: 'padded' | 'one-window'): Promise<Matrix> {
  const manifest = await resolveManifest('openwakeword-embedding');
  if (manifest.format !== 'openwakeword') throw new Error('unexpected manifest');
  if (recipe === 'one-window') {
    delete manifest.input.minSeconds;
    delete manifest.input.contextSeconds;
  }
  const backbone = await createBackbone(manifest, await loadModelFilesNode(manifest), { device: 'node' });
  try {
    const set = await fsdd();
    return await embedCached(set, backbone as Backbone<unknown>, readAudio);
  } finally {
    await backbone.dispose();
  }
}

const acc = (p: string[], t: string[]) => p.filter((x, i) => x === t[i]).length / t.length;

const set = await fsdd();
const trainIdx = set.labels.map((_, i) => i).filter((i) => set.groups![i] !== 'theo');
const testIdx = set.labels.map((_, i) => i).filter((i) => set.groups![i] === 'theo');
await mkdir(OUT, { recursive: true });
const lines: string[] = [];
for (const recipe of ['padded', 'one-window'] as const) {
  const all = await embedAll(recipe);
  await writeFile(join(OUT, `fsdd-${recipe}.f32`), new Uint8Array(all.data.buffer, all.data.byteOffset, all.data.byteLength));
  await writeFile(join(OUT, 'fsdd.json'), JSON.stringify({ labels: set.labels, groups: set.groups, dim: all.cols }));
  const train = selectRows(all, trainIdx);
  const test = selectRows(all, testIdx);
  const trainLabels = trainIdx.map((i) => set.labels[i]);
  const testLabels = testIdx.map((i) => set.labels[i]);
  for (const kind of ['linear', 'centroid'] as const) {
    const cells: string[] = [];
    for (const k of SHOTS) {
      const scores: number[] = [];
      for (let seed = 0; seed < (k === 'all' ? 1 : SEEDS); seed++) {
        const pick = k === 'all' ? trainLabels.map((_, i) => i) : sampleFewShot(trainLabels, k, seed);
        const r = await fitHead(selectRows(train, pick), pick.map((i) => trainLabels[i]), { head: kind, crossValidate: false });
        scores.push(acc(r.head.predictLabels(test), testLabels));
      }
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, scores.length - 1));
      cells.push(k === 'all' ? (100 * mean).toFixed(1) : `${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)}`);
    }
    lines.push(`| ${recipe} | edgehead ${kind} | ${cells.join(' | ')} |`);
  }
  const { stdout } = await promisify(execFile)(PYTHON, [join(import.meta.dirname, 'audio_sklearn.py'), join(OUT, `fsdd-${recipe}.f32`), join(OUT, 'fsdd.json'), String(SEEDS)]);
  lines.push(`| ${recipe} | scikit-learn LogisticRegression(C=1) | ${stdout.trim()} |`);
}
console.log('| recipe | head | k=1 | k=5 | k=10 | all (200) |\n|---|---|---|---|---|---|');
console.log(lines.join('\n'));
