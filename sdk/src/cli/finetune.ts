/**
 * `edgehead finetune <data> --backbone <id> --out my-backbone.onnx`: unfreeze the top of an ONNX
 * image backbone, train it with a new head on the user's photos, and write a new backbone (the
 * .onnx, its manifest beside it) plus a head fitted on the fine-tuned embeddings.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cutModel, blockOutputs, summarizeModel } from '../backbone/onnx/graph.js';
import { OnnxSession } from '../backbone/onnx/session.js';
import { sha256Hex } from '../core/hash.js';
import { InvalidInputError } from '../core/errors.js';
import { loadTrainingTf, translateTop } from '../finetune/onnx-to-tfjs.js';
import { fineTune } from '../finetune/train.js';
import { fitHead } from '../heads/fit.js';
import { serializeHead } from '../heads/format.js';
import { augmentImage } from '../inputs/image/augment.js';
import { imagesToTensor } from '../inputs/image/image.js';
import { createRng } from '../heads/random.js';
import { decodeImageBytes } from '../inputs/image/decode-node.js';
import { readInputFile } from '../inputs/read-file.js';
import type { ImageManifest } from '../manifest/manifest.js';
import { loadBackbone, loadModelFilesNode, resolveManifest } from '../node.js';
import { perClassSample, readLabelledData, resolveGroups } from './data.js';
import { embedItems } from './embed-items.js';
import { decodeOptionsFor } from './inputs.js';
import { numberFlag, out, UsageError, warn } from './io.js';
import { writeAtomically } from './outputs.js';

export const finetuneHelp = `edgehead finetune <photos> --backbone <fp32 ONNX image backbone> --out my-backbone.onnx [options]
  Trains the top of the backbone with a new head on your labelled photos (class folders) and
  writes my-backbone.onnx, its manifest my-backbone.json (use it as --backbone anywhere), and a
  linear head fitted on the fine-tuned embeddings (my-backbone.head.json). The layers below the
  cut stay frozen and run once per photo in onnxruntime; the top trains in TF.js (WASM).
  --unfreeze <n|tensor>   train everything after the output of the n-th residual block from the
                          end (default 1: in MobileNetV2, its last block and final 1×1 conv), or
                          after the named tensor (edgehead models info lists them)
  --epochs <n> (10)  --batch-size <n> (32)  --lr-backbone <r> (1e-4)  --lr-head <r> (1e-2)
  --optimizer adam|sgd  --patience <n> (3)  --validation <share> (0.2)  --seed <s> (0)
  --augment <n>      n augmented views per photo (flip, resized crop, colour jitter; seeded), made
                     from the photos before the frozen part runs, so each view has its own cached
                     activations; a photo and its views stay on one side of the held-out split
  --per-class <k>  --group-by …  (as for fit)  --force (replace existing outputs)  --json`;

export async function finetuneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backbone: { type: 'string', short: 'b' },
      out: { type: 'string', short: 'o' },
      unfreeze: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'lr-backbone': { type: 'string' },
      'lr-head': { type: 'string' },
      optimizer: { type: 'string' },
      patience: { type: 'string' },
      validation: { type: 'string' },
      seed: { type: 'string' },
      'per-class': { type: 'string' },
      augment: { type: 'string' },
      'group-by': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const data = positionals[0];
  if (!data) throw new UsageError('finetune needs a folder of photos with one sub-folder per class.');
  if (!values.backbone) throw new UsageError('finetune needs --backbone <id|manifest.json> (an fp32 ONNX image backbone, e.g. mobilenetv2-fp32).');
  if (!values.out || !values.out.endsWith('.onnx')) throw new UsageError('finetune needs --out <name>.onnx (the manifest and head are written beside it).');
  const epochs = numberFlag('epochs', values.epochs, { min: 1, max: 1000, integer: true }) ?? 10;
  const batchSize = numberFlag('batch-size', values['batch-size'], { min: 1, max: 4096, integer: true }) ?? 32;
  const backboneLearningRate = numberFlag('lr-backbone', values['lr-backbone'], { min: 0 }) ?? 1e-4;
  const headLearningRate = numberFlag('lr-head', values['lr-head'], { min: Number.MIN_VALUE }) ?? 1e-2;
  const patience = numberFlag('patience', values.patience, { min: 1, integer: true }) ?? 3;
  const validationShare = numberFlag('validation', values.validation, { min: 0.05, max: 0.5 }) ?? 0.2;
  const seed = numberFlag('seed', values.seed, { min: 0, integer: true }) ?? 0;
  const perClass = numberFlag('per-class', values['per-class'], { min: 2, integer: true });
  const views = numberFlag('augment', values.augment, { min: 0, max: 32, integer: true }) ?? 0;
  if (values.optimizer !== undefined && values.optimizer !== 'adam' && values.optimizer !== 'sgd') throw new UsageError(`--optimizer must be adam or sgd, not "${values.optimizer}".`);
  const outputs = { model: resolve(values.out), manifest: resolve(values.out.replace(/\.onnx$/, '.json')), head: resolve(values.out.replace(/\.onnx$/, '.head.json')) };
  for (const path of Object.values(outputs)) {
    if (existsSync(path) && !values.force) throw new UsageError(`${path} exists; refusing to overwrite it (pass --force to replace it).`);
  }
  const log = values.json ? () => undefined : (s: string) => warn(s);

  const manifest = await resolveManifest(values.backbone);
  if (manifest.format !== 'onnx' || manifest.modality !== 'image') throw new UsageError(`finetune trains ONNX image backbones; "${manifest.id}" is ${manifest.format} ${manifest.modality}.`);
  if (manifest.output.pooling !== 'none') throw new UsageError(`"${manifest.id}" pools its output in the SDK (${manifest.output.pooling}); finetune needs a model whose output is the embedding itself.`);
  const model = (await loadModelFilesNode(manifest)).model;
  const from = cutTensor(model, values.unfreeze ?? '1', manifest);

  const dataset = await readLabelledData(data, { onNote: log });
  if (dataset.modality !== 'image') throw new UsageError(`finetune trains on photos; ${data} holds ${dataset.modality} data.`);
  const { items, labels, groups } = perClassSample(dataset.items, dataset.labels, values['group-by'] ? resolveGroups(dataset, values['group-by']).groups : undefined, perClass, seed);

  // The frozen base, once per photo.
  const cut = cutModel(model, { tensor: from });
  const base = await OnnxSession.create(cut.bytes, `${manifest.id} below ${from}`);
  const chunks: Float32Array[] = [];
  let dims: number[] = [];
  const kept: number[] = [];
  // The photo each activation row comes from (a photo's augmented views follow it).
  const rowPhoto: number[] = [];
  try {
    for (let start = 0; start < items.length; start += 32) {
      const images = [];
      for (let i = start; i < Math.min(items.length, start + 32); i++) {
        try {
          const image = await decodeImageBytes(await readInputFile(items[i]), items[i], decodeOptionsFor(manifest));
          images.push(image);
          kept.push(i);
          rowPhoto.push(i);
          for (let v = 0; v < views; v++) {
            images.push(augmentImage(image, createRng(seed * 1_000_003 + i * 101 + v)));
            rowPhoto.push(i);
          }
        } catch (e) {
          log(`skipped ${items[i]}: ${(e as Error).message}`);
        }
      }
      if (!images.length) continue;
      const input = imagesToTensor(images, manifest.input.image);
      const activations = (await base.run({ [manifest.input.name]: { type: 'float32', data: input.data, dims: input.dims } }, [cut.outputName]))[cut.outputName];
      chunks.push(activations.data);
      dims = activations.dims;
      log(`frozen base (below ${from}): ${kept.length}/${items.length} photos`);
    }
  } finally {
    await base.release();
  }
  if (!kept.length) throw new InvalidInputError(`No photo of ${data} could be read.`);
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const activations = { data: new Float32Array(rowPhoto.length * per), dims: [rowPhoto.length, ...dims.slice(1)] };
  let offset = 0;
  for (const c of chunks) {
    activations.data.set(c, offset);
    offset += c.length;
  }

  const tf = await loadTrainingTf();
  const top = translateTop(tf, model, { from, to: manifest.output.tensor });
  try {
    log(
      `training ${top.ops.filter((op) => op === 'Conv').length} convolution(s) after ${from} (${top.variables.size} weight tensors) and a new head on ${kept.length} photos` +
        (views ? ` and ${views} augmented view(s) of each (seed ${seed})` : ''),
    );
    // With views, a photo and its views form a group, so none of them is trained on while another is held out.
    const rowGroups = groups ? rowPhoto.map((i) => groups[i]) : views ? rowPhoto : undefined;
    const result = await fineTune(tf, top, activations, rowPhoto.map((i) => labels[i]), {
      epochs,
      batchSize,
      backboneLearningRate,
      headLearningRate,
      optimizer: values.optimizer as 'adam' | 'sgd' | undefined,
      patience,
      validationShare,
      groups: rowGroups,
      seed,
      onEpoch: (r) => log(`epoch ${r.epoch}: loss ${r.trainLoss.toFixed(3)}, accuracy ${(100 * r.trainAccuracy).toFixed(1)} %; held out: loss ${r.validationLoss.toFixed(3)}, accuracy ${(100 * r.validationAccuracy).toFixed(1)} %`),
    });
    const exported = top.exportOnnx();
    await writeAtomically(outputs.model, exported);
    const id = basename(outputs.model, '.onnx');
    const newManifest: ImageManifest = {
      ...manifest,
      id,
      name: `${manifest.name}, fine-tuned after ${from} on ${kept.length} photos (${new Set(labels).size} classes)`,
      files: { model: { sha256: await sha256Hex(exported), size: exported.length, sources: [{ file: basename(outputs.model) }] } },
    };
    // The ImageNet logits are not what this model is for any more.
    delete newManifest.logits;
    await writeAtomically(outputs.manifest, `${JSON.stringify(newManifest, null, 2)}\n`);

    // The head users keep: fitted (with cross-validation) on the fine-tuned backbone's embeddings, so it carries its fingerprint.
    const { backbone } = await loadBackbone(outputs.manifest, { modality: 'image' });
    try {
      const embedded = await embedItems(backbone, 'image', kept.map((i) => items[i]), { decode: decodeOptionsFor(newManifest), cache: false, label: 'embedding with the fine-tuned backbone' });
      const headLabels = embedded.kept.map((k) => labels[kept[k]]);
      const report = await fitHead(embedded.embeddings, headLabels, { head: 'linear', seed, groups: groups && embedded.kept.map((k) => groups[kept[k]]) });
      await writeAtomically(outputs.head, JSON.stringify(serializeHead(report.head, { backbone: { id: outputs.manifest, fingerprint: backbone.fingerprint }, training: report.training })));
      const summary = {
        backbone: outputs.model,
        manifest: outputs.manifest,
        head: outputs.head,
        cut: from,
        photos: kept.length,
        trainingRows: rowPhoto.length,
        bestEpoch: result.bestEpoch,
        stoppedEarly: result.stoppedEarly,
        history: result.history,
        headCrossValidation: report.crossValidation ? { accuracy: report.crossValidation.accuracy, macroF1: report.crossValidation.macroF1 } : null,
      };
      if (values.json) out(JSON.stringify(summary));
      else {
        const best = result.history[result.bestEpoch - 1];
        out(`fine-tuned after ${from}: best epoch ${result.bestEpoch} of ${result.history.length}${result.stoppedEarly ? ' (stopped early)' : ''}, held-out accuracy ${(100 * best.validationAccuracy).toFixed(1)} %`);
        out(`wrote ${outputs.model}, ${outputs.manifest} (--backbone ${outputs.manifest}) and ${outputs.head}${report.crossValidation ? ` (linear head, CV accuracy ${(100 * report.crossValidation.accuracy).toFixed(1)} %)` : ''}`);
      }
    } finally {
      await backbone.dispose();
    }
    return 0;
  } finally {
    top.dispose();
  }
}

/** `--unfreeze n`: the output of the n-th residual block from the end; otherwise a tensor name. */
function cutTensor(model: Uint8Array, unfreeze: string, manifest: ImageManifest): string {
  const summary = summarizeModel(model);
  if (/^\d+$/.test(unfreeze)) {
    const n = Number(unfreeze);
    const blocks = blockOutputs(summary);
    if (n < 1 || n > blocks.length) throw new UsageError(`--unfreeze ${unfreeze}: ${manifest.id} has ${blocks.length} residual blocks; pick 1 to ${blocks.length}, or name a tensor.`);
    return blocks[blocks.length - n];
  }
  if (!summary.tensors.some((t) => t.name === unfreeze)) throw new UsageError(`--unfreeze: ${manifest.id} has no tensor "${unfreeze}" (edgehead models info ${manifest.id} lists them).`);
  return unfreeze;
}
