/** `edgehead fit`: dataset → embeddings → head (+ CV metrics) → portable head file. */
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../core/errors.js';
import { CentroidHead, DEFAULT_PRIOR_WEIGHT } from '../heads/centroid.js';
import { describeCv, describeSpec, fitHead, type HeadSpec } from '../heads/fit.js';
import { encodeReference, serializeHead } from '../heads/format.js';
import { selectRows } from '../heads/matrix.js';
import { loadBackbone } from '../node.js';
import { createOnnxObjective } from '../accel/onnx-objective.js';
import { augmentImage, describeAugment } from '../inputs/image/augment.js';
import { createRng, shuffle } from '../heads/random.js';
import { renderReport } from '../report/html-report.js';
import { perClassSample, readLabelledData, resolveGroups } from './data.js';
import { embedItems } from './embed-items.js';
import { descriptionPrior, readLabelDescriptions, type LabelDescriptions } from './label-descriptions.js';
import { decodeOptionsFor } from './inputs.js';
import { encodingFlag, numberFlag, out, UsageError, warn } from './io.js';
import { checkOutputs, writeAtomically } from './outputs.js';

export const fitHelp = `edgehead fit <data> --backbone <id|file> --out head.json [options]
edgehead fit --labels labels.tsv --backbone <text backbone> --out head.json    (zero-shot: no examples)

  <data>: a folder with one sub-folder per class (images or WAV), or a text file
          (label<TAB>text, "label text", CSV with text,label header, or JSONL {"text","label"}).
  --head linear|knn|centroid|auto   (default auto: chosen by cross-validation)
  --C <c>  --k <k>  --metric cosine|euclidean  --standardize  --class-weight balanced
  --per-class <k> --seed <s>        fit on k examples per class (seeded few-shot sample)
  --folds <n>                       cross-validation folds (default 5)
  --no-cv                           with a fixed --head: skip cross-validation (no scores, no calibration)
  --group-by folder|column:<name>|<regex>
                                    keep each group (speaker, object, customer) in one CV fold:
                                    folder = <class>/<group>/files; column:<name> = a CSV/JSONL
                                    column; a regex's first capture group on the file name
                                    (e.g. '^[^_]+_([^_]+)_' for <digit>_<speaker>_<n>.wav)
  --labels labels.tsv               text heads: label<TAB>description[<TAB>…] per line; each class's
                                    centroid starts at its descriptions (a centroid head), so it
                                    works with no examples and improves as examples arrive
  --prior-weight <w>                how many examples a label's descriptions count as (default 1)
  --keep-reference <n>              store n of the examples' embeddings (seeded sample, 2–1024) in the head
                                    file's training notes, for edgehead shift --head head.json <new>
  --false-rejection <rate>          share of known-class inputs the unknown gate may reject, 0.001–0.49
                                    (default 0.05); set on out-of-fold (grouped) distances, or on
                                    leave-one-out distances without cross-validation
  --augment <n>                     n augmented views per image (flip, resized crop, colour jitter; seeded)
  --no-cache                        recompute embeddings instead of reusing the on-disk cache
  --report report.html              write a self-contained HTML report (confusion, per-class, PCA map, errors)
  --strict                          fail on an unreadable file instead of skipping it
  --text-column <c> --label-column <c>
                                    CSV/JSONL columns (default text, label)
  --encoding latin1                 read a Latin-1 text file (default: UTF-8 required; UTF-16 with a BOM is read)
  --force                           replace an existing --out/--report file that is not an edgehead head/report
  --json                            print the report as JSON`;

/** Small JPEG data URIs for the report's misclassified images. */
async function thumbnailsOf(paths: string[]): Promise<Map<string, string>> {
  const sharp = (await import('sharp')).default;
  const out = new Map<string, string>();
  for (const p of paths.slice(0, 60)) {
    try {
      const jpeg = await sharp(p).rotate().resize(128, 128, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
      out.set(p, `data:image/jpeg;base64,${jpeg.toString('base64')}`);
    } catch {
      // an unreadable file was already reported; no thumbnail
    }
  }
  return out;
}

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
      'group-by': { type: 'string' },
      strict: { type: 'boolean' },
      json: { type: 'boolean' },
      device: { type: 'string' },
      augment: { type: 'string' },
      'no-cache': { type: 'boolean' },
      report: { type: 'string' },
      force: { type: 'boolean' },
      'no-cv': { type: 'boolean' },
      'false-rejection': { type: 'string' },
      'text-column': { type: 'string' },
      'label-column': { type: 'string' },
      encoding: { type: 'string' },
      labels: { type: 'string' },
      'prior-weight': { type: 'string' },
      'keep-reference': { type: 'string' },
    },
  });
  const data: string | undefined = positionals[0];
  if (!data && !values.labels) throw new UsageError('fit needs a data folder or file (or --labels labels.tsv for a zero-shot text head).');
  if (!values.backbone) throw new UsageError('fit needs --backbone <id|file>.');
  if (!values.out) throw new UsageError('fit needs --out head.json.');
  // Label descriptions prime class centroids: --labels makes a centroid head.
  const kind = values.head ?? (values.labels ? 'centroid' : 'auto');
  if (!['linear', 'knn', 'centroid', 'auto'].includes(kind)) throw new UsageError('--head must be linear, knn, centroid or auto.');
  if (values.labels && kind !== 'centroid') throw new UsageError(`--labels makes a centroid head (class centroids start at the descriptions); drop --head ${kind} or use --head centroid.`);
  const priorWeight = numberFlag('prior-weight', values['prior-weight'], { min: 0.001 });
  const keepReference = numberFlag('keep-reference', values['keep-reference'], { min: 2, max: 1024, integer: true });
  if (priorWeight !== undefined && !values.labels) throw new UsageError('--prior-weight applies with --labels.');
  if (!data && (values.report || values['per-class'] || values['group-by'] || values.augment || values['no-cv'] || keepReference)) {
    throw new UsageError('A zero-shot head (--labels without data) has no examples: --report, --per-class, --group-by, --augment, --no-cv and --keep-reference need data.');
  }
  // Every flag is checked, and the outputs too, before anything is read or embedded.
  const seed = numberFlag('seed', values.seed, { min: 0, integer: true }) ?? 0;
  const folds = numberFlag('folds', values.folds, { min: 2, max: 50, integer: true });
  const C = numberFlag('C', values.C, { min: Number.MIN_VALUE });
  const k = numberFlag('k', values.k, { min: 1, integer: true });
  const falseRejection = numberFlag('false-rejection', values['false-rejection'], { min: 0.001, max: 0.49 });
  const perClass = numberFlag('per-class', values['per-class'], { min: 1, integer: true });
  if (values['class-weight'] !== undefined && values['class-weight'] !== 'balanced') throw new UsageError(`--class-weight takes "balanced", not "${values['class-weight']}".`);
  if (values.metric !== undefined && !['cosine', 'euclidean'].includes(values.metric)) throw new UsageError(`--metric must be cosine or euclidean, not "${values.metric}".`);
  if (values.metric !== undefined && kind === 'linear') throw new UsageError('--metric applies to knn and centroid heads, not linear.');
  if (k !== undefined && kind !== 'knn') throw new UsageError('--k applies to --head knn (auto chooses k itself).');
  if ((C !== undefined || values.standardize || values['class-weight']) && kind !== 'linear') throw new UsageError('--C, --standardize and --class-weight apply to --head linear.');
  const encoding = encodingFlag(values.encoding);
  if (values['no-cv'] && kind === 'auto') throw new UsageError('--no-cv needs a fixed --head (auto chooses by cross-validation).');
  if (values.device && !['auto', 'node', 'wasm'].includes(values.device)) throw new UsageError(`--device must be auto, node or wasm, not "${values.device}".`);
  await checkOutputs({
    data: data ?? values.labels!,
    outputs: [{ flag: 'out', path: values.out, kind: 'head' }, ...(values.report ? [{ flag: 'report', path: values.report, kind: 'report' as const }] : [])],
    force: values.force,
  });
  const log = values.json ? () => undefined : (s: string) => warn(s);
  const descriptions = values.labels ? await readLabelDescriptions(values.labels, encoding) : undefined;
  if (!data) return fitZeroShot(descriptions!, { ...values, backbone: values.backbone, out: values.out }, priorWeight, log);

  const dataset = await readLabelledData(data, { textColumn: values['text-column'], labelColumn: values['label-column'], encoding, onNote: log });
  const { backbone, manifest } = await loadBackbone(values.backbone, { device: values.device as 'auto' | undefined });
  try {
    if (manifest.modality !== dataset.modality) {
      throw new InvalidInputError(`${data} holds ${dataset.modality} data but backbone "${manifest.id}" embeds ${manifest.modality}. Pick a ${dataset.modality} backbone (edgehead models list).`);
    }
    log(`backbone ${manifest.id} (${backbone.dim}-d, ${backbone.device}, licence ${manifest.license.name}); ${dataset.items.length} examples in ${new Set(dataset.labels).size} classes`);
    if (descriptions && manifest.modality !== 'text') throw new UsageError(`--labels describes labels in words: it needs a text backbone, and "${manifest.id}" embeds ${manifest.modality}.`);
    const prior = descriptions ? await descriptionPrior(backbone, descriptions, priorWeight, !values['no-cache']) : undefined;
    if (descriptions) {
      log(`label descriptions: ${descriptions.texts.length} for ${new Set(descriptions.labels).size} labels, each label's counting as ${prior!.weight ?? DEFAULT_PRIOR_WEIGHT} example(s)`);
      // A misspelt label would silently become a class with no examples (or one without a description).
      const inData = new Set(dataset.labels);
      const described = new Set(descriptions.labels);
      const onlyDescribed = [...described].filter((l) => !inData.has(l));
      const undescribed = [...inData].filter((l) => !described.has(l));
      if (onlyDescribed.length) warn(`warning: ${onlyDescribed.length} described label(s) have no examples in ${data}: ${onlyDescribed.slice(0, 5).join(', ')}${onlyDescribed.length > 5 ? ', …' : ''} — they become classes known only by their description (check the spelling).`);
      if (undescribed.length) warn(`warning: ${undescribed.length} label(s) of ${data} have no description: ${undescribed.slice(0, 5).join(', ')}${undescribed.length > 5 ? ', …' : ''}.`);
    }
    if (dataset.ignored.length) log(`ignored ${dataset.ignored.length} file(s) that are not images or WAV (e.g. ${dataset.ignored[0]})`);
    const grouped = values['group-by'] ? resolveGroups(dataset, values['group-by']) : undefined;
    if (grouped) log(`cross-validation grouped by ${grouped.description}: ${new Set(grouped.groups).size} groups`);
    else if (dataset.folders?.some((f) => f !== undefined)) log('class folders have sub-folders; if they are groups (one object, one speaker…), --group-by folder keeps each in one CV fold');
    const { items, labels, groups: itemGroups } = perClassSample(dataset.items, dataset.labels, grouped?.groups, perClass, seed);
    if (perClass) log(`few-shot: ${values['per-class']} per class (seed ${seed}) → ${items.length} examples`);
    const views = values.augment ? Number(values.augment) : 0;
    if (!Number.isInteger(views) || views < 0 || views > 32) throw new UsageError('--augment takes a number of views per image from 0 to 32.');
    if (views && dataset.modality !== 'image') throw new UsageError('--augment applies to images only.');
    const embedded = await embedItems(backbone, dataset.modality, items, {
      decode: decodeOptionsFor(manifest),
      strict: values.strict,
      cache: !values['no-cache'],
      views: views ? (image, item) => Array.from({ length: views }, (_, v) => augmentImage(image, createRng(seed * 1_000_003 + item * 101 + v))) : undefined,
      viewCount: views,
      viewsKey: views ? `${describeAugment()}:${seed}` : undefined,
    });
    if (embedded.cacheHits) log(`embedding cache: ${embedded.cacheHits} of ${embedded.kept.length} embeddings reused (--no-cache to recompute)`);
    if (views) log(`augmentation: ${views} view(s) per image (flip, random resized crop, colour jitter; seed ${seed}) → ${embedded.kept.length} training rows`);
    if (embedded.skipped.length) {
      log(`skipped ${embedded.skipped.length} unreadable file(s) (use --strict to fail instead):`);
      for (const s of embedded.skipped.slice(0, 10)) log(`  ${s.reason}`);
    }
    const keptLabels = embedded.kept.map((i) => labels[i]);
    const lost = [...new Set(labels)].filter((l) => !keptLabels.includes(l));
    if (lost.length) {
      throw new InvalidInputError(`Every example of class(es) ${lost.join(', ')} was unreadable, so the head would not know them. Fix or remove those files (see the list above).`);
    }
    const spec: HeadSpec | 'auto' =
      kind === 'auto'
        ? 'auto'
        : kind === 'linear'
          ? { kind, C, standardize: values.standardize, classWeight: values['class-weight'] === 'balanced' ? 'balanced' : undefined }
          : kind === 'knn'
            ? { kind, k, metric: values.metric as 'cosine' | undefined }
            : { kind: 'centroid', metric: values.metric as 'cosine' | undefined, prior };
    // Beyond a few hundred rows, evaluate the linear objective on onnxruntime: same optimum,
    // 15–25× faster at 1,000 × 1280 (bench:heads); below, its session start-up costs more than it saves.
    const big = embedded.embeddings.rows * embedded.embeddings.cols > 250_000;
    const report = await fitHead(embedded.embeddings, keptLabels, {
      head: spec,
      seed,
      folds,
      crossValidate: values['no-cv'] ? false : undefined,
      falseRejectionRate: falseRejection,
      onStep: log,
      objective: big ? createOnnxObjective({ device: 'auto' }) : undefined,
      // Views of one image share a fold (so do a group's items), and only originals are scored.
      groups: itemGroups ? embedded.kept.map((i) => itemGroups[i]) : views ? embedded.kept : undefined,
      groupedBy: grouped ? grouped.description : views ? 'augmented views of one image' : undefined,
      scored: views ? embedded.augmented.map((a) => !a) : undefined,
    });
    if (views) {
      // Count examples, not augmented rows.
      const originals: Record<string, number> = {};
      embedded.kept.forEach((item, r) => {
        if (!embedded.augmented[r]) originals[labels[item]] = (originals[labels[item]] ?? 0) + 1;
      });
      report.training.nPerClass = originals;
      report.training.augmentedViewsPerExample = views;
    }
    // A seeded sample of the original examples (not augmented views), for `edgehead shift --head`.
    const originals = embedded.kept.flatMap((_, r) => (embedded.augmented[r] ? [] : [r]));
    const sampled = keepReference ? shuffle(originals.slice(), createRng(seed + 1)).slice(0, keepReference).sort((a, b) => a - b) : undefined;
    const reference = sampled ? encodeReference(selectRows(embedded.embeddings, sampled), sampled.map((r) => keptLabels[r])) : undefined;
    if (sampled) log(`kept a reference sample of ${sampled.length} training embeddings in the head file${sampled.length < keepReference! ? ` (all ${sampled.length} examples; --keep-reference asked for ${keepReference})` : ''}, for shift --head and --coral`);
    const file = serializeHead(report.head, {
      backbone: { id: values.backbone, fingerprint: backbone.fingerprint },
      training: {
        ...report.training,
        skipped: embedded.skipped.length,
        tried: report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy, macroF1: t.macroF1 })),
        ...(reference ? { reference } : {}),
      },
    });
    // Write then rename: an interrupted fit never leaves a half-written head file.
    await writeAtomically(values.out, JSON.stringify(file));
    if (values.report) {
      const rows = embedded.kept.map((item, r) => ({
        item: items[item],
        label: labels[item],
        predicted: report.crossValidation?.predictions[r],
        augmented: embedded.augmented[r],
      }));
      const thumbnails = dataset.modality === 'image' ? await thumbnailsOf(rows.filter((r) => r.predicted && r.predicted !== r.label).map((r) => r.item)) : undefined;
      const html = renderReport({
        title: `edgehead fit — ${data}`,
        modality: dataset.modality,
        backbone: { id: manifest.id, name: manifest.name, license: manifest.license.name, fingerprint: backbone.fingerprint },
        head: describeSpec(report.spec),
        createdAt: report.training.createdAt,
        labels: [...report.head.labels],
        nPerClass: report.training.nPerClass,
        crossValidation: report.crossValidation,
        tried: report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy, macroF1: t.macroF1 })),
        rows,
        embeddings: embedded.embeddings,
        thumbnails,
        notes: [
          ...(report.crossValidation ? [`Cross-validation: ${describeCv(report.crossValidation.folds, report.crossValidation.grouping)}.`] : []),
          ...(report.calibration
            ? [
                `Probabilities: temperature scaling T=${report.calibration.calibration.temperature.toFixed(3)}; out-of-fold ECE (10 bins) ${report.calibration.eceBefore.toFixed(3)} → ${report.calibration.eceAfter.toFixed(3)}. ` +
                  `Reliability (confidence bin: n, mean confidence → accuracy): ${report.calibration.reliability
                    .filter((b) => b.count)
                    .map((b) => `${b.lo.toFixed(1)}–${b.hi.toFixed(1)}: ${b.count}, ${b.confidence.toFixed(2)}→${b.accuracy.toFixed(2)}`)
                    .join('; ')}`,
              ]
            : []),
          ...report.warnings.map((w) => `Warning: ${w}`),
          ...(embedded.skipped.length ? [`${embedded.skipped.length} unreadable file(s) skipped: ${embedded.skipped.map((s) => s.item).join(', ')}`] : []),
        ],
      });
      await writeAtomically(values.report, html);
      log(`wrote report ${values.report}`);
    }
    const summary = {
      out: values.out,
      head: describeSpec(report.spec),
      backbone: manifest.id,
      n: keptLabels.length,
      nPerClass: report.training.nPerClass,
      crossValidation: report.crossValidation
        ? {
            folds: report.crossValidation.folds,
            method: describeCv(report.crossValidation.folds, report.crossValidation.grouping),
            grouped: report.crossValidation.grouping.grouped,
            groupedBy: report.crossValidation.grouping.by ?? null,
            groups: report.crossValidation.grouping.groups ?? null,
            accuracy: report.crossValidation.accuracy,
            macroF1: report.crossValidation.macroF1,
          }
        : null,
      calibration: report.calibration
        ? { method: report.calibration.calibration.method, temperature: report.calibration.calibration.temperature, eceBefore: report.calibration.eceBefore, eceAfter: report.calibration.eceAfter }
        : null,
      warnings: report.warnings,
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
      for (const w of report.warnings) out(`warning: ${w}`);
      if (report.calibration) {
        const c = report.calibration;
        out(`probabilities calibrated by temperature scaling (T=${c.calibration.temperature.toFixed(3)}): out-of-fold ECE ${c.eceBefore.toFixed(3)} → ${c.eceAfter.toFixed(3)}`);
      }
      if (summary.crossValidation) out(`cross-validated (${summary.crossValidation.method}): accuracy ${summary.crossValidation.accuracy.toFixed(3)}, macro-F1 ${summary.crossValidation.macroF1.toFixed(3)}`);
      else if (values['no-cv']) out('no cross-validation (--no-cv): no scores, no calibration; the unknown gate uses leave-one-out distances.');
      else out('no cross-validation: some class has a single example (nearest centroid and kNN work with one).');
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}

/** `fit --labels labels.tsv` without data: a centroid head whose centroids are the embedded descriptions. */
async function fitZeroShot(
  descriptions: LabelDescriptions,
  values: { backbone: string; out: string; metric?: string; device?: string; json?: boolean; 'no-cache'?: boolean },
  priorWeight: number | undefined,
  log: (line: string) => void,
): Promise<number> {
  const { backbone, manifest } = await loadBackbone(values.backbone, { device: values.device as 'auto' | undefined });
  try {
    if (manifest.modality !== 'text') throw new UsageError(`--labels describes labels in words: it needs a text backbone, and "${manifest.id}" embeds ${manifest.modality}.`);
    const prior = await descriptionPrior(backbone, descriptions, priorWeight, !values['no-cache']);
    const metric = (values.metric as 'cosine' | 'euclidean' | undefined) ?? 'cosine';
    const head = CentroidHead.fromDescriptions(prior, { metric });
    const labels = [...head.labels];
    const weight = prior.weight ?? DEFAULT_PRIOR_WEIGHT;
    const file = serializeHead(head, {
      backbone: { id: values.backbone, fingerprint: backbone.fingerprint },
      training: { nPerClass: Object.fromEntries(labels.map((l) => [l, 0])), createdAt: new Date().toISOString(), spec: { kind: 'centroid', metric, prior: { weight, descriptions: descriptions.texts.length } }, zeroShot: true },
    });
    await writeAtomically(values.out, JSON.stringify(file));
    if (values.json) out(JSON.stringify({ out: values.out, zeroShot: true, labels, descriptions: descriptions.texts.length, priorWeight: weight, backbone: { id: manifest.id, fingerprint: backbone.fingerprint } }));
    else {
      log(`backbone ${manifest.id} (${backbone.dim}-d, ${backbone.device}); ${descriptions.texts.length} descriptions of ${labels.length} labels`);
      out(`wrote ${values.out}: a zero-shot centroid head for ${labels.length} labels (${labels.slice(0, 6).join(', ')}${labels.length > 6 ? ', …' : ''})`);
      out('no examples: no cross-validated score, no calibration and no unknown gate. Measure it with edgehead eval on labelled data;');
      out(`fit again with examples and --labels to start the centroids at the descriptions (each counting as ${weight} example(s)).`);
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}
