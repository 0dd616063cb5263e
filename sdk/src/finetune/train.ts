/**
 * Fine-tuning, step 2 (issue 14): trains the translated top of a backbone (translateTop) and a
 * new softmax head together on activations cached at the cut — the frozen base runs once per
 * input, in onnxruntime. Adam (or SGD with momentum) with separate learning rates for the
 * backbone's layers and the head, linear warm-up then cosine decay, early stopping on a held-out
 * split (grouped when groups are given) with the best epoch's weights restored, seeded order.
 * It sees activations, not images: augmentation happens before the cut (`edgehead finetune
 * --augment n` makes seeded views of each photo and caches their activations like any photo's;
 * pass a photo and its views as one group so they stay on one side of the held-out split).
 * @module
 */
import type * as tfCore from '@tensorflow/tfjs-core';
import { InvalidInputError } from '../core/errors.js';
import { uniqueLabels } from '../heads/head.js';
import { createRng, shuffle } from '../heads/random.js';
import { stratifiedGroupKFold, stratifiedSplit } from '../heads/split.js';
import { trainableMatMul } from './matmul.js';
import type { TfjsTop } from './onnx-to-tfjs.js';

type Tf = typeof tfCore;

export interface FineTuneOptions {
  epochs?: number;
  batchSize?: number;
  /** Learning rate of the backbone's layers. Default 1e-4 (small: they start from good weights). */
  backboneLearningRate?: number;
  /** Learning rate of the new head. Default 1e-2. */
  headLearningRate?: number;
  optimizer?: 'adam' | 'sgd';
  /** Epochs of linear warm-up before the cosine decay. Default 1. */
  warmupEpochs?: number;
  /** Share of the examples held out for early stopping. Default 0.2. */
  validationShare?: number;
  /** Rows sharing a group stay on one side of the split. */
  groups?: readonly (string | number)[];
  /** Epochs without a better validation loss before stopping. Default 3. */
  patience?: number;
  seed?: number;
  signal?: AbortSignal;
  onEpoch?: (report: EpochReport) => void;
}

export interface EpochReport {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss: number;
  validationAccuracy: number;
  learningRates: { backbone: number; head: number };
}

export interface FineTuneResult {
  classes: string[];
  /** The head: logits = embedding · weights + bias ([dim, classes], [classes]). */
  head: { weights: Float32Array; bias: Float32Array; dim: number };
  history: EpochReport[];
  /** The epoch whose weights were kept (the lowest validation loss). */
  bestEpoch: number;
  stoppedEarly: boolean;
}

/** Optimisers whose learning rate the schedule sets each step. */
function optimizer(tf: Tf, kind: 'adam' | 'sgd', rate: number): tfCore.Optimizer & { setRate(rate: number): void } {
  if (kind === 'adam') {
    return new (class extends tf.AdamOptimizer {
      setRate(r: number) {
        this.learningRate = r;
      }
    })(rate, 0.9, 0.999, 1e-7);
  }
  return new (class extends tf.MomentumOptimizer {
    setRate(r: number) {
      this.learningRate = r;
    }
  })(rate, 0.9);
}

/**
 * `activations`: the cut tensor of every example (NCHW as onnxruntime gives it), rows first.
 * Trains `top`'s variables in place; they hold the best epoch's values when this returns.
 */
export async function fineTune(
  tf: Tf,
  top: TfjsTop,
  activations: { data: Float32Array; dims: number[] },
  labels: readonly string[],
  options: FineTuneOptions = {},
): Promise<FineTuneResult> {
  const n = activations.dims[0];
  if (labels.length !== n) throw new InvalidInputError(`fineTune needs one label per example; got ${labels.length} labels for ${n} examples.`);
  const classes = uniqueLabels(labels);
  if (classes.length < 2) throw new InvalidInputError('Fine-tuning needs at least two classes.');
  const epochs = options.epochs ?? 10;
  const batchSize = options.batchSize ?? 32;
  const seed = options.seed ?? 0;
  const split = options.groups
    ? stratifiedGroupKFold(labels, options.groups, Math.max(2, Math.round(1 / (options.validationShare ?? 0.2))), seed)[0]
    : stratifiedSplit(labels, options.validationShare ?? 0.2, seed);
  if (split.validation.length === 0 || split.train.length === 0) throw new InvalidInputError('Too few examples to hold some out for early stopping; add examples or lower validationShare.');
  const per = activations.data.length / n;
  const rows = (idx: readonly number[]) => {
    const data = new Float32Array(idx.length * per);
    idx.forEach((r, i) => data.set(activations.data.subarray(r * per, (r + 1) * per), i * per));
    return tf.tensor(data, [idx.length, ...activations.dims.slice(1)]);
  };
  const classOf = labels.map((l) => classes.indexOf(l));
  const oneHot = (idx: readonly number[]) => tf.oneHot(tf.tensor1d(idx.map((r) => classOf[r]), 'int32'), classes.length);

  // The head starts at zero (every class equally likely): deterministic, and the top's features unchanged at first.
  const dim = tf.tidy(() => top.apply(rows([split.train[0]])).shape[1]!);
  const weights = tf.variable(tf.zeros<tfCore.Rank.R2>([dim, classes.length]), true, 'finetune/head/weights');
  const bias = tf.variable(tf.zeros([classes.length]), true, 'finetune/head/bias');
  const backboneVars = [...top.variables.values()];
  const baseRates = { backbone: options.backboneLearningRate ?? 1e-4, head: options.headLearningRate ?? 1e-2 };
  const backboneOpt = optimizer(tf, options.optimizer ?? 'adam', baseRates.backbone);
  const headOpt = optimizer(tf, options.optimizer ?? 'adam', baseRates.head);
  const stepsPerEpoch = Math.ceil(split.train.length / batchSize);
  const warmup = (options.warmupEpochs ?? 1) * stepsPerEpoch;
  const total = epochs * stepsPerEpoch;
  const scheduleAt = (step: number) => (step < warmup ? (step + 1) / warmup : 0.5 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup))));

  const logitsOf = (x: tfCore.Tensor) => tf.add(trainableMatMul(tf, top.apply(x) as tfCore.Tensor2D, weights), bias);
  // In batches: the whole held-out set at once through three blocks of MobileNetV2 (200 photos
  // at 14 × 14 × 576) ran tfjs-backend-wasm's memory out ("memory access out of bounds").
  const evaluate = (idx: readonly number[]) => {
    let lossSum = 0;
    let right = 0;
    for (let start = 0; start < idx.length; start += batchSize) {
      const part = idx.slice(start, start + batchSize);
      tf.tidy(() => {
        const y = oneHot(part);
        const logits = logitsOf(rows(part));
        lossSum += tf.losses.softmaxCrossEntropy(y, logits).dataSync()[0] * part.length;
        right += tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')).dataSync()[0];
      });
    }
    return { loss: lossSum / idx.length, accuracy: right / idx.length };
  };

  const rng = createRng(seed);
  const history: EpochReport[] = [];
  let best = { loss: Infinity, epoch: 0, values: [] as tfCore.Tensor[] };
  let step = 0;
  let stoppedEarly = false;
  const trainable = [...backboneVars, weights, bias];
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = shuffle(split.train.slice(), rng);
      let lossSum = 0;
      let right = 0;
      for (let start = 0; start < order.length; start += batchSize) {
        options.signal?.throwIfAborted();
        const batch = order.slice(start, start + batchSize);
        const factor = scheduleAt(step++);
        backboneOpt.setRate(baseRates.backbone * factor);
        headOpt.setRate(baseRates.head * factor);
        tf.tidy(() => {
          const x = rows(batch);
          const y = oneHot(batch);
          const { value, grads } = tf.variableGrads(() => {
            const logits = logitsOf(x);
            right += tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')).dataSync()[0];
            return tf.losses.softmaxCrossEntropy(y, logits) as tfCore.Scalar;
          }, trainable);
          lossSum += value.dataSync()[0] * batch.length;
          backboneOpt.applyGradients(Object.fromEntries(backboneVars.map((v) => [v.name, grads[v.name]])));
          headOpt.applyGradients({ [weights.name]: grads[weights.name], [bias.name]: grads[bias.name] });
        });
        // Let an abort or a progress callback in between batches.
        await new Promise((r) => setTimeout(r, 0));
      }
      const validation = evaluate(split.validation);
      const report: EpochReport = {
        epoch,
        trainLoss: lossSum / order.length,
        trainAccuracy: right / order.length,
        validationLoss: validation.loss,
        validationAccuracy: validation.accuracy,
        learningRates: { backbone: baseRates.backbone * scheduleAt(step - 1), head: baseRates.head * scheduleAt(step - 1) },
      };
      history.push(report);
      options.onEpoch?.(report);
      if (validation.loss < best.loss) {
        for (const t of best.values) t.dispose();
        best = { loss: validation.loss, epoch, values: trainable.map((v) => tf.clone(v)) };
      } else if (epoch - best.epoch >= (options.patience ?? 3)) {
        stoppedEarly = true;
        break;
      }
    }
    // The best epoch's weights, backbone and head alike.
    trainable.forEach((v, i) => v.assign(best.values[i]));
    return {
      classes,
      head: { weights: weights.dataSync().slice() as Float32Array, bias: bias.dataSync().slice() as Float32Array, dim },
      history,
      bestEpoch: best.epoch,
      stoppedEarly,
    };
  } finally {
    for (const t of best.values) t.dispose();
    weights.dispose();
    bias.dispose();
    backboneOpt.dispose();
    headOpt.dispose();
  }
}
