/** `edgehead rank <data>`: which backbone, and which of its layers, suits this labelled data? */
import { parseArgs } from 'node:util';
import { createBaseline } from '../backbone/baselines.js';
import type { AnyBackbone } from '../backbone/create.js';
import { blockOutputs, summarizeModel } from '../backbone/onnx/graph.js';
import { InvalidInputError } from '../core/errors.js';
import { rankEmbeddings, type RankCandidate } from '../heads/rank.js';
import type { Manifest, Modality } from '../manifest/manifest.js';
import { listManifests, loadBackbone, loadModelFilesNode, resolveManifest } from '../node.js';
import { perClassSample, readLabelledData, resolveGroups } from './data.js';
import { embedItems } from './embed-items.js';
import { decodeOptionsFor } from './inputs.js';
import { encodingFlag, numberFlag, out, UsageError, warn } from './io.js';

export const rankHelp = `edgehead rank <data> [--backbones a,b,…] [--cuts auto|<n>|<tensor,…>] [options]
  Scores every candidate backbone on your labelled examples without fitting a head: LogME
  (You et al., 2021; higher is better, comparable within one data set) and a quick
  cross-validated linear probe, best LogME first, with the time each took. A trivial baseline
  (16×16 raw pixels, a log-mel spectrogram, or a bag of words) is scored too: when no backbone is
  clearly better than it, rank warns of negative transfer.
  <data>                 as for fit (class folders, or a labelled text file)
  --backbones a,b        manifest ids or files (default: every known backbone of the data's modality)
  --cuts auto|<n>        also score ONNX image backbones cut at the outputs of their last 3 (or n)
                         residual blocks, average-pooled; or name the tensors (edgehead models info)
  --per-class <k>        rank on k examples per class (seeded sample; default: all)
  --folds <n>            probe folds (default 3)     --no-probe   LogME only
  --group-by …           keep groups in one probe fold (as for fit)
  --no-baseline          skip the baseline          --seed <s>   --no-cache   --json
  --device auto|node|wasm                            (ONNX runtime, as for fit)
  --text-column <c> --label-column <c> --encoding latin1   (as for fit)`;

interface Planned {
  name: string;
  load: () => Promise<AnyBackbone>;
  baseline?: boolean;
  manifest?: Manifest;
}

export async function rankCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backbones: { type: 'string' },
      cuts: { type: 'string' },
      'per-class': { type: 'string' },
      folds: { type: 'string' },
      seed: { type: 'string' },
      'group-by': { type: 'string' },
      'no-probe': { type: 'boolean' },
      'no-baseline': { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      json: { type: 'boolean' },
      device: { type: 'string' },
      'text-column': { type: 'string' },
      'label-column': { type: 'string' },
      encoding: { type: 'string' },
    },
  });
  const data = positionals[0];
  if (!data) throw new UsageError('rank needs a data folder or labelled text file (as for fit).');
  const perClass = numberFlag('per-class', values['per-class'], { min: 2, integer: true });
  const folds = numberFlag('folds', values.folds, { min: 2, max: 20, integer: true });
  const seed = numberFlag('seed', values.seed, { min: 0, integer: true }) ?? 0;
  const encoding = encodingFlag(values.encoding);
  if (values.device && !['auto', 'node', 'wasm'].includes(values.device)) throw new UsageError(`--device must be auto, node or wasm, not "${values.device}".`);
  const log = values.json ? () => undefined : (s: string) => warn(s);

  const dataset = await readLabelledData(data, { textColumn: values['text-column'], labelColumn: values['label-column'], encoding, onNote: log });
  const { items, labels, groups } = perClassSample(dataset.items, dataset.labels, values['group-by'] ? resolveGroups(dataset, values['group-by']).groups : undefined, perClass, seed);
  const plan = await planCandidates(dataset.modality, values.backbones, values.cuts, values.device as 'auto' | undefined);
  if (!values['no-baseline']) plan.push({ name: `baseline:${baselineName(dataset.modality)}`, baseline: true, load: () => createBaseline(dataset.modality) });
  log(`ranking ${plan.length} candidate(s) on ${items.length} ${dataset.modality} examples in ${new Set(labels).size} classes`);

  const candidates: RankCandidate[] = [];
  let rows: number[] | undefined;
  let skipped = 0;
  for (const planned of plan) {
    const start = performance.now();
    const backbone = await planned.load();
    try {
      const embedded = await embedItems(backbone, dataset.modality, items, {
        decode: planned.manifest ? decodeOptionsFor(planned.manifest) : { shrinkTo: 64 },
        cache: !values['no-cache'],
        label: planned.name,
      });
      // Every candidate must score the same rows: an input one of them cannot read is dropped for all.
      if (rows && embedded.kept.join() !== rows.join()) throw new InvalidInputError(`${planned.name} could read a different set of inputs than the candidates before it; fix or remove the unreadable files.`);
      if (!rows) {
        skipped = embedded.skipped.length;
        for (const s of embedded.skipped.slice(0, 5)) log(`skipped: ${s.reason}`);
      }
      rows = embedded.kept;
      candidates.push({ name: planned.name, baseline: planned.baseline, embeddings: embedded.embeddings, embedSeconds: (performance.now() - start) / 1000 });
    } finally {
      await backbone.dispose();
    }
  }
  const keptLabels = rows!.map((i) => labels[i]);
  const result = await rankEmbeddings(candidates, keptLabels, {
    folds,
    seed,
    groups: groups && rows!.map((i) => groups[i]),
    probe: !values['no-probe'],
    onStep: log,
  });
  if (values.json) {
    out(JSON.stringify({ ...result, examples: keptLabels.length, classes: [...new Set(keptLabels)].sort(), skipped }));
    return 0;
  }
  const width = Math.max(12, ...result.ranked.map((r) => r.name.length)) + 2;
  out(`${'candidate'.padEnd(width)}${'dim'.padStart(6)}${'LogME'.padStart(9)}${'probe acc'.padStart(11)}${'macro-F1'.padStart(10)}${'embed s'.padStart(9)}${'score s'.padStart(9)}`);
  for (const r of result.ranked) {
    const scoreSeconds = r.seconds.logME + (r.seconds.probe ?? 0);
    out(
      `${(r.name + (r.baseline ? ' *' : '')).padEnd(width)}${String(r.dim).padStart(6)}${r.logME.toFixed(3).padStart(9)}` +
        `${(r.probe ? `${(r.probe.accuracy * 100).toFixed(1)} %` : '–').padStart(11)}${(r.probe ? r.probe.macroF1.toFixed(3) : '–').padStart(10)}` +
        `${(r.seconds.embed ?? 0).toFixed(1).padStart(9)}${scoreSeconds.toFixed(1).padStart(9)}`,
    );
  }
  const probe = result.ranked[0].probe;
  const hasBaseline = result.ranked.some((r) => r.baseline);
  out(`${hasBaseline ? '* baseline (no pretrained weights). ' : ''}${probe ? `Probe: linear head, C = 1, ${probe.folds}-fold${groups ? ' grouped' : ''} cross-validation.` : 'No probe (--no-probe, or a class with a single example).'}`);
  if (result.best) out(`best by LogME: ${result.best}`);
  if (result.negativeTransfer) out(`warning: ${result.negativeTransfer}`);
  return 0;
}

function baselineName(modality: Modality): string {
  return { image: 'pixels-16', audio: 'log-mel', text: 'bag-of-words' }[modality];
}

/** The backbones to score, plus their cut points (ONNX image models only). */
async function planCandidates(modality: Modality, backbones: string | undefined, cuts: string | undefined, device: 'auto' | undefined): Promise<Planned[]> {
  const ids = backbones ? backbones.split(',').map((s) => s.trim()).filter(Boolean) : (await listManifests()).filter((m) => m.modality === modality).map((m) => m.id);
  const plan: Planned[] = [];
  for (const id of ids) {
    const manifest = await resolveManifest(id);
    if (manifest.modality !== modality) throw new UsageError(`Backbone "${id}" embeds ${manifest.modality}, but the data is ${modality}.`);
    plan.push({ name: manifest.id, manifest, load: async () => (await loadBackbone(id, { device })).backbone });
    if (!cuts || cuts === 'none') continue;
    if (manifest.format !== 'onnx' || manifest.modality !== 'image') {
      warn(`--cuts: ${manifest.id} is not an ONNX image model; scoring its embedding output only.`);
      continue;
    }
    const files = await loadModelFilesNode(manifest);
    const summary = summarizeModel(files.model);
    const blocks = blockOutputs(summary);
    const count = cuts === 'auto' ? 3 : /^\d+$/.test(cuts) ? Number(cuts) : undefined;
    if (count === 0) throw new UsageError('--cuts takes auto, a number of blocks from 1, or tensor names.');
    if (count !== undefined && blocks.length === 0) throw new InvalidInputError(`${manifest.id} has no residual blocks to cut at; name tensors with --cuts <tensor,…> (edgehead models info ${manifest.id}).`);
    if (count !== undefined && count > blocks.length) warn(`--cuts ${count}: ${manifest.id} has ${blocks.length} residual blocks; scoring all of them.`);
    const tensors = count !== undefined ? blocks.slice(-count).reverse() : cuts.split(',').map((s) => s.trim()).filter(Boolean);
    // Names are checked now, before any candidate is embedded.
    const known = new Set(summary.tensors.map((t) => t.name));
    const missing = tensors.filter((t) => !known.has(t));
    if (missing.length) throw new UsageError(`--cuts: ${manifest.id} has no tensor ${missing.map((t) => `"${t}"`).join(', ')}; its residual block outputs are ${blocks.join(', ') || 'none'} (every tensor: edgehead models info ${manifest.id}).`);
    for (const tensor of tensors) {
      plan.push({ name: `${manifest.id}@${tensor}`, manifest, load: async () => (await loadBackbone(id, { device, cut: tensor, pooling: 'avg-nchw' })).backbone });
    }
  }
  if (plan.length === 0) throw new UsageError(`No ${modality} backbone to rank; pass --backbones.`);
  return plan;
}
