/** `edgehead fit`: dataset → embeddings → head (+ CV metrics) → portable head file. */
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../core/errors.js';
import { describeSpec, fitHead, type HeadSpec } from '../heads/fit.js';
import { serializeHead } from '../heads/format.js';
import { selectRows } from '../heads/matrix.js';
import { sampleFewShot } from '../heads/split.js';
import { loadBackbone } from '../node.js';
import { createOnnxObjective } from '../accel/onnx-objective.js';
import { readLabelledData } from './data.js';
import { embedItems } from './embed-items.js';
import { out, UsageError, warn } from './io.js';

export const fitHelp = `edgehead fit <data> --backbone <id|file> --out head.json [options]

  <data>: a folder with one sub-folder per class (images or WAV), or a text file
          (label<TAB>text, "label text", CSV with text,label header, or JSONL {"text","label"}).
  --head linear|knn|centroid|auto   (default auto: chosen by cross-validation)
  --C <c>  --k <k>  --metric cosine|euclidean  --standardize  --class-weight balanced
  --per-class <k> --seed <s>        fit on k examples per class (seeded few-shot sample)
  --folds <n>                       cross-validation folds (default 5)
  --strict                          fail on an unreadable file instead of skipping it
  --json                            print the report as JSON`;

export async function fitCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backbone: { type: 'string', short: 'b' },
      out: { type: 'string', short: 'o' },
      head: { type: 'string' },
      C: { type: 'string' },
      k: { type: 'string' },
      metric: { type: 'string' },
      standardize: { type: 'boolean' },
      'class-weight': { type: 'string' },
      'per-class': { type: 'string' },
      seed: { type: 'string' },
      folds: { type: 'string' },
      strict: { type: 'boolean' },
      json: { type: 'boolean' },
      device: { type: 'string' },
    },
  });
  const data = positionals[0];
  if (!data) throw new UsageError('fit needs a data folder or file.');
  if (!values.backbone) throw new UsageError('fit needs --backbone <id|file>.');
  if (!values.out) throw new UsageError('fit needs --out head.json.');
  const kind = values.head ?? 'auto';
  if (!['linear', 'knn', 'centroid', 'auto'].includes(kind)) throw new UsageError('--head must be linear, knn, centroid or auto.');
  const seed = values.seed ? Number(values.seed) : 0;
  const log = values.json ? () => undefined : (s: string) => warn(s);

  const dataset = await readLabelledData(data);
  const { backbone, manifest } = await loadBackbone(values.backbone, { device: values.device as 'auto' | undefined });
  try {
    if (manifest.modality !== dataset.modality) {
      throw new InvalidInputError(`${data} holds ${dataset.modality} data but backbone "${manifest.id}" embeds ${manifest.modality}. Pick a ${dataset.modality} backbone (edgehead models list).`);
    }
    log(`backbone ${manifest.id} (${backbone.dim}-d, ${backbone.device}, licence ${manifest.license.name}); ${dataset.items.length} examples in ${new Set(dataset.labels).size} classes`);
    if (dataset.ignored.length) log(`ignored ${dataset.ignored.length} file(s) that are not images or WAV (e.g. ${dataset.ignored[0]})`);
    let items = dataset.items;
    let labels = dataset.labels;
    if (values['per-class']) {
      const chosen = sampleFewShot(labels, Number(values['per-class']), seed);
      items = chosen.map((i) => items[i]);
      labels = chosen.map((i) => labels[i]);
      log(`few-shot: ${values['per-class']} per class (seed ${seed}) → ${items.length} examples`);
    }
    const embedded = await embedItems(backbone, dataset.modality, items, { strict: values.strict });
    if (embedded.skipped.length) {
      log(`skipped ${embedded.skipped.length} unreadable file(s) (use --strict to fail instead):`);
      for (const s of embedded.skipped.slice(0, 10)) log(`  ${s.reason}`);
    }
    const keptLabels = embedded.kept.map((i) => labels[i]);
    const spec: HeadSpec | 'auto' =
      kind === 'auto'
        ? 'auto'
        : kind === 'linear'
          ? { kind, C: values.C ? Number(values.C) : undefined, standardize: values.standardize, classWeight: values['class-weight'] === 'balanced' ? 'balanced' : undefined }
          : kind === 'knn'
            ? { kind, k: values.k ? Number(values.k) : undefined, metric: values.metric as 'cosine' | undefined }
            : { kind: 'centroid', metric: values.metric as 'cosine' | undefined };
    // Large sets: evaluate the linear objective on onnxruntime (same optimum, ~10× faster).
    const big = embedded.embeddings.rows * embedded.embeddings.cols > 2_000_000;
    const report = await fitHead(embedded.embeddings, keptLabels, {
      head: spec,
      seed,
      folds: values.folds ? Number(values.folds) : undefined,
      onStep: log,
      objective: big ? createOnnxObjective({ device: 'auto' }) : undefined,
    });
    const file = serializeHead(report.head, {
      backbone: { id: values.backbone, fingerprint: backbone.fingerprint },
      training: { ...report.training, skipped: embedded.skipped.length, tried: report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy, macroF1: t.macroF1 })) },
    });
    // Write then rename: an interrupted fit never leaves a half-written head file.
    const tmp = `${values.out}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(file));
    await rename(tmp, values.out);
    const summary = {
      out: values.out,
      head: describeSpec(report.spec),
      backbone: manifest.id,
      n: keptLabels.length,
      nPerClass: report.training.nPerClass,
      crossValidation: report.crossValidation
        ? { folds: report.crossValidation.folds, accuracy: report.crossValidation.accuracy, macroF1: report.crossValidation.macroF1 }
        : null,
      tried: report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy, macroF1: t.macroF1 })),
      skipped: embedded.skipped.map((s) => s.item),
    };
    if (values.json) {
      out(JSON.stringify(summary));
    } else {
      out(`\nwrote ${values.out}: ${summary.head} on ${summary.n} examples`);
      out(`${'class'.padEnd(24)} ${'n'.padStart(5)}${report.crossValidation ? `${'precision'.padStart(11)}${'recall'.padStart(8)}${'F1'.padStart(7)}` : ''}`);
      for (const [label, n] of Object.entries(report.training.nPerClass)) {
        const c = report.crossValidation?.perClass[label];
        out(`${label.slice(0, 24).padEnd(24)} ${String(n).padStart(5)}${c ? `${c.precision.toFixed(3).padStart(11)}${c.recall.toFixed(3).padStart(8)}${c.f1.toFixed(3).padStart(7)}` : ''}`);
      }
      if (summary.crossValidation) out(`cross-validated (${summary.crossValidation.folds}-fold): accuracy ${summary.crossValidation.accuracy.toFixed(3)}, macro-F1 ${summary.crossValidation.macroF1.toFixed(3)}`);
      else out('no cross-validation: some class has a single example (nearest centroid and kNN work with one).');
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}
