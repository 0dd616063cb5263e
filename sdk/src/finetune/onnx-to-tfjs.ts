/**
 * The first step of fine-tuning (issue 14): the top of an ONNX backbone — from an inner tensor
 * to its embedding output — as a TF.js function whose weights are trainable variables
 * initialised from the ONNX initialisers. The part below the cut stays frozen in onnxruntime;
 * its activations at the cut are what this function takes.
 *
 * Activations run in NHWC inside (what TF.js's convolutions take) and come out in the ONNX
 * model's own layout. Supported ops: Conv (plain, and depthwise: group = channels), Clip, Relu,
 * Add, Sub, Mul, BatchNormalization, GlobalAveragePool, Flatten, Reshape (with its Shape / Gather
 * / Unsqueeze / Concat arithmetic), Identity, MatMul and Gemm; any other op is refused by name.
 * @module
 */
import type * as tfCore from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import { trainableMatMul } from './matmul.js';
import { BackendUnavailableError, InvalidInputError, TensorNotFoundError, nearestNames } from '../core/errors.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type Tf = typeof tfCore;

export const SUPPORTED_OPS = [
  'Conv', 'Clip', 'Relu', 'Add', 'Sub', 'Mul', 'BatchNormalization', 'GlobalAveragePool', 'Flatten', 'Reshape',
  'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Identity', 'MatMul', 'Gemm',
] as const;

export interface TfjsTop {
  /** The cut tensor the function takes (in the model's layout, e.g. NCHW). */
  readonly from: string;
  /** The output it computes. */
  readonly to: string;
  /** ONNX op types, in execution order. */
  readonly ops: string[];
  /** Trainable weights, by ONNX initialiser name (Conv/Gemm/MatMul weights and biases, BN scale and shift). */
  readonly variables: Map<string, tfCore.Variable>;
  /** Runs the top on activations at `from`; returns the tensor at `to`. Call inside tf.tidy or dispose the result. */
  apply(activations: tfCore.Tensor): tfCore.Tensor;
  /**
   * The ONNX model with the variables' current values written back into its initialisers (in
   * ONNX layout, float32): a new backbone file for onnxruntime everywhere, with a new sha256.
   */
  exportOnnx(): Uint8Array;
  dispose(): void;
}

/**
 * TF.js for training, on its WASM backend, with every gradient registered. tfjs-core registers
 * none; the union package `@tensorflow/tfjs` (an optional peer dependency: only fine-tuning needs
 * it) registers them against the same tfjs-core copy in Node (its CommonJS bundle) and in
 * bundlers (its ES modules).
 */
let trainingTf: Promise<Tf> | undefined;
export function loadTrainingTf(): Promise<Tf> {
  trainingTf ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    try {
      await import('@tensorflow/tfjs');
    } catch (cause) {
      throw new BackendUnavailableError('Fine-tuning needs the gradients of TF.js from @tensorflow/tfjs: npm i @tensorflow/tfjs@4.22.0', { cause });
    }
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('tf.setBackend("wasm") returned false: TF.js\'s WASM backend could not start.');
    await tf.ready();
    return tf;
  })().catch((e: unknown) => {
    trainingTf = undefined;
    throw e;
  });
  return trainingTf;
}

/** A value flowing through the graph: a float tensor (with its layout) or small integer arithmetic on shapes. */
type Value = { tensor: tfCore.Tensor; layout: 'nhwc' | 'plain' } | { ints: number[]; scalar: boolean };

function decodeInitializer(t: TensorProto): { dims: number[]; floats?: Float32Array; ints?: number[] } {
  const dims = (t.dims ?? []).map(Number);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  switch (t.dataType) {
    case onnx.TensorProto.DataType.FLOAT: {
      if (raw) {
        const copy = raw.slice();
        return { dims, floats: new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4) };
      }
      return { dims, floats: Float32Array.from(t.floatData ?? []) };
    }
    case onnx.TensorProto.DataType.INT64: {
      if (raw) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        return { dims, ints: Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true))) };
      }
      return { dims, ints: (t.int64Data ?? []).map(Number) };
    }
    case onnx.TensorProto.DataType.INT32:
      return { dims, ints: (t.int32Data ?? []).map(Number) };
    default:
      throw new InvalidInputError(`Initialiser "${t.name}" has ONNX data type ${t.dataType}; only float32 weights (and int64/int32 shapes) can be translated. Use the fp32 model.`);
  }
}

/** How a Conv node is computed (see the variable layouts in translateTop). */
function convKind(node: NodeProto, dims: number[]): 'pointwise' | 'depthwise' | 'general' {
  const group = attrInt(node, 'group', 1);
  const [cout, cinPerGroup, kh, kw] = dims;
  const plainStride = attrInts(node, 'strides', [1, 1]).every((v) => v === 1);
  const noPad = attrInts(node, 'pads', [0, 0, 0, 0]).every((v) => v === 0);
  if (group === 1 && kh === 1 && kw === 1 && plainStride && noPad) return 'pointwise';
  if (group > 1 && cinPerGroup === 1 && cout === group) return 'depthwise';
  return 'general';
}

function attr(node: NodeProto, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}
const attrInts = (node: NodeProto, name: string, fallback: number[]) => {
  const a = attr(node, name);
  return a?.ints?.length ? a.ints.map(Number) : fallback;
};
const attrInt = (node: NodeProto, name: string, fallback: number) => {
  const a = attr(node, name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : fallback;
};
const attrFloat = (node: NodeProto, name: string, fallback: number) => attr(node, name)?.f ?? fallback;

/**
 * The nodes that compute `to` from `from` (and initialisers), in graph order. Fails, naming the
 * tensor, when the top needs something computed below the cut other than `from` (a residual
 * connection that crosses it: cut at a block output instead).
 */
function topNodes(nodes: NodeProto[], initializers: Set<string>, from: string, to: string): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  if (!producer.has(from)) throw new TensorNotFoundError(from, nearestNames(from, producer.keys()));
  if (!producer.has(to)) throw new TensorNotFoundError(to, nearestNames(to, producer.keys()));
  // Forward: every tensor computable from `from` and the constants alone.
  const computable = new Set([from, ...initializers, '']);
  for (const n of nodes) if ((n.input ?? []).every((i) => computable.has(i))) for (const o of n.output ?? []) computable.add(o);
  // Backward from `to`: the nodes it needs.
  const needed = new Set<NodeProto>();
  const stack = [to];
  const seen = new Set<string>();
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name) || name === from || initializers.has(name) || name === '') continue;
    seen.add(name);
    const node = producer.get(name);
    if (!node) continue; // a graph input: reported below
    needed.add(node);
    stack.push(...(node.input ?? []));
  }
  if (!computable.has(to)) {
    // Where a path from the cut meets one from below it: that other input is what is missing.
    const meeting = [...needed].find((n) => (n.input ?? []).some((i) => computable.has(i) && !initializers.has(i) && i !== '') && (n.input ?? []).some((i) => !computable.has(i)));
    const missing = meeting?.input?.find((i) => !computable.has(i));
    throw new InvalidInputError(
      missing
        ? `The top from "${from}" to "${to}" also needs "${missing}", computed below the cut (e.g. a residual connection across it); cut at a block output instead.`
        : `"${to}" is not computed from "${from}": pick a cut tensor below it (edgehead models info lists them in order).`,
    );
  }
  return nodes.filter((n) => needed.has(n));
}

/** Translates the part of an fp32 ONNX model from tensor `from` to tensor `to` into TF.js. */
export function translateTop(tf: Tf, modelBytes: Uint8Array, options: { from: string; to: string }): TfjsTop {
  const graph = onnx.ModelProto.decode(modelBytes).graph;
  if (!graph) throw new InvalidInputError('The ONNX model has no graph.');
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const nodes = topNodes(graph.node ?? [], new Set(initializers.keys()), options.from, options.to);
  const unsupported = [...new Set(nodes.map((n) => n.opType ?? '').filter((op) => !(SUPPORTED_OPS as readonly string[]).includes(op)))];
  if (unsupported.length) {
    throw new InvalidInputError(`Cannot translate op(s) ${unsupported.join(', ')} between "${options.from}" and "${options.to}" to TF.js; supported: ${SUPPORTED_OPS.join(', ')}. Cut higher (closer to the output), or use the fp32 model.`);
  }

  const variables = new Map<string, tfCore.Variable>();
  /** Per variable: the permutation that takes its TF.js layout back to the ONNX one (none: same layout). */
  const backToOnnx = new Map<string, number[] | undefined>();
  const decoded = new Map<string, ReturnType<typeof decodeInitializer>>();
  const init = (name: string) => {
    let d = decoded.get(name);
    if (!d) {
      const t = initializers.get(name);
      if (!t) throw new InvalidInputError(`Expected "${name}" to be an initialiser (a constant of the model).`);
      d = decodeInitializer(t);
      decoded.set(name, d);
    }
    return d;
  };
  /** A trainable weight, created once in the layout TF.js needs. */
  const variable = (name: string, make: (floats: Float32Array, dims: number[]) => tfCore.Tensor, back?: number[]) => {
    backToOnnx.set(name, back);
    let v = variables.get(name);
    if (!v) {
      const { floats, dims } = init(name);
      if (!floats) throw new InvalidInputError(`Weight "${name}" is not float32.`);
      const t = make(floats, dims);
      v = tf.variable(t, true, `onnx/${name}`);
      t.dispose();
      variables.set(name, v);
    }
    return v;
  };
  const scalarOf = (name: string | undefined, fallback: number) => {
    if (!name) return fallback;
    const { floats } = init(name);
    return floats?.[0] ?? fallback;
  };
  // Weights are created now, so they exist (and can be trained) before the first call.
  for (const n of nodes) {
    const inputs = n.input ?? [];
    if (n.opType === 'Conv') {
      const w = init(inputs[1]);
      const group = attrInt(n, 'group', 1);
      const [cout, cinPerGroup, kh, kw] = w.dims;
      // Layouts chosen so training needs only kernels tfjs-backend-wasm can differentiate (it has
      // no convolution backprop): 1×1 convolutions as a matMul ([Cin, Cout]; back: [1, 0]),
      // depthwise ones as shifted multiply-adds ([kh, kw, C]; back: [2, 0, 1]); others as conv2d
      // (HWIO; back: [3, 2, 0, 1]), which trains on the CPU backend only.
      if (convKind(n, w.dims) === 'pointwise') variable(inputs[1], (f) => tf.transpose(tf.tensor2d(f, [cout, cinPerGroup])), [1, 0]);
      else if (convKind(n, w.dims) === 'depthwise') variable(inputs[1], (f) => tf.transpose(tf.tensor3d(f, [cout, kh, kw]), [1, 2, 0]), [2, 0, 1]);
      else if (group === 1) variable(inputs[1], (f) => tf.transpose(tf.tensor4d(f, [cout, cinPerGroup, kh, kw]), [2, 3, 1, 0]), [3, 2, 0, 1]);
      else throw new InvalidInputError(`Conv "${n.name}" has group=${group} with ${cinPerGroup} input channels and ${cout / group} outputs per group: only plain, pointwise and depthwise (one output per channel) convolutions are supported.`);
      if (inputs[2]) variable(inputs[2], (f) => tf.tensor1d(f));
    } else if (n.opType === 'BatchNormalization') {
      variable(inputs[1], (f) => tf.tensor1d(f));
      variable(inputs[2], (f) => tf.tensor1d(f));
    } else if (n.opType === 'MatMul' || n.opType === 'Gemm') {
      if (initializers.has(inputs[1])) variable(inputs[1], (f, d) => tf.tensor2d(f, [d[0], d[1]]));
      if (n.opType === 'Gemm' && inputs[2] && initializers.has(inputs[2])) variable(inputs[2], (f, d) => tf.tensor(f, d));
    }
  }

  const apply = (activations: tfCore.Tensor): tfCore.Tensor => {
    const values = new Map<string, Value>();
    values.set(options.from, activations.rank === 4 ? { tensor: tf.transpose(activations, [0, 2, 3, 1]), layout: 'nhwc' } : { tensor: activations, layout: 'plain' });
    const tensorOf = (name: string): { tensor: tfCore.Tensor; layout: 'nhwc' | 'plain' } => {
      const v = values.get(name);
      if (v && 'tensor' in v) return v;
      if (v) throw new InvalidInputError(`"${name}" is shape arithmetic, not a tensor.`);
      const d = init(name);
      if (!d.floats) throw new InvalidInputError(`"${name}" is not a float tensor.`);
      return { tensor: variables.get(name) ?? tf.tensor(d.floats, d.dims.length ? d.dims : []), layout: 'plain' };
    };
    const intsOf = (name: string): { ints: number[]; scalar: boolean } => {
      const v = values.get(name);
      if (v && 'ints' in v) return v;
      const d = init(name);
      if (!d.ints) throw new InvalidInputError(`"${name}" is not an integer constant.`);
      return { ints: d.ints, scalar: d.dims.length === 0 };
    };
    /** NCHW view of a value (what ONNX shapes and reshapes mean). */
    const nchw = (v: { tensor: tfCore.Tensor; layout: 'nhwc' | 'plain' }) => (v.layout === 'nhwc' ? tf.transpose(v.tensor, [0, 3, 1, 2]) : v.tensor);
    /** A per-channel constant ([C], [C,1,1] or [1,C,1,1]) as [C] to broadcast over NHWC. */
    const broadcastable = (other: { tensor: tfCore.Tensor; layout: 'nhwc' | 'plain' }, peer: 'nhwc' | 'plain') =>
      peer === 'nhwc' && other.layout === 'plain' && other.tensor.rank >= 3 ? tf.reshape(other.tensor, [-1]) : other.tensor;

    for (const n of nodes) {
      const inputs = n.input ?? [];
      const out = (n.output ?? [])[0];
      let result: Value;
      switch (n.opType) {
        case 'Conv': {
          const x = tensorOf(inputs[0]);
          const input = x.layout === 'nhwc' ? (x.tensor as tfCore.Tensor4D) : (tf.transpose(x.tensor, [0, 2, 3, 1]) as tfCore.Tensor4D);
          const [pt, pl, pb, pr] = attrInts(n, 'pads', [0, 0, 0, 0]);
          const strides = attrInts(n, 'strides', [1, 1]) as [number, number];
          const dilations = attrInts(n, 'dilations', [1, 1]) as [number, number];
          const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
          const w = variables.get(inputs[1])!;
          const kind = convKind(n, init(inputs[1]).dims);
          let y: tfCore.Tensor;
          if (kind === 'pointwise') {
            const [batch, height, width, channels] = input.shape;
            y = tf.reshape(trainableMatMul(tf, tf.reshape(input, [-1, channels]), w as tfCore.Tensor2D), [batch, height, width, w.shape[1]!]);
          } else if (kind === 'depthwise') {
            const [kh, kw, channels] = w.shape as [number, number, number];
            const [batch, inH, inW] = input.shape;
            const [sh, sw] = strides;
            const outH = Math.floor((inH + pt + pb - dilations[0] * (kh - 1) - 1) / sh) + 1;
            const outW = Math.floor((inW + pl + pr - dilations[1] * (kw - 1) - 1) / sw) + 1;
            // A strided tap is a contiguous window of outH·sh rows (outW·sw columns) reshaped to
            // [outH, sh] and cut to its first row (columns alike): slice, reshape and pad all have gradients,
            // where tf.stridedSlice has none. Zeros past the ONNX padding make every window fit.
            const extraH = Math.max(0, dilations[0] * (kh - 1) + outH * sh - (inH + pt + pb));
            const extraW = Math.max(0, dilations[1] * (kw - 1) + outW * sw - (inW + pl + pr));
            const padded = tf.pad(input, [[0, 0], [pt, pb + extraH], [pl, pr + extraW], [0, 0]]);
            y = tf.zeros([batch, outH, outW, channels]);
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const begin = [0, i * dilations[0], j * dilations[1], 0];
                let patch = tf.slice(padded, begin, [batch, outH * sh, outW * sw, channels]);
                if (sh !== 1 || sw !== 1) {
                  // Rank 4, not [batch, outH, sh, outW, sw, channels]: tfjs-backend-wasm slices
                  // rank 6 element by element, 8 s a batch through three blocks.
                  const split = tf.reshape(patch, [batch * outH, sh, outW, sw * channels]);
                  patch = tf.reshape(tf.slice(split, [0, 0, 0, 0], [batch * outH, 1, outW, channels]), [batch, outH, outW, channels]);
                }
                y = tf.add(y, tf.mul(patch, tf.reshape(tf.slice(w, [i, j, 0], [1, 1, channels]), [channels])));
              }
            }
          } else {
            y = tf.conv2d(input, w as tfCore.Tensor4D, strides, pad, 'NHWC', dilations);
          }
          if (inputs[2]) y = tf.add(y, variables.get(inputs[2])!);
          result = { tensor: y, layout: 'nhwc' };
          break;
        }
        case 'Clip': {
          const x = tensorOf(inputs[0]);
          const min = inputs[1] ? scalarOf(inputs[1], -Infinity) : attrFloat(n, 'min', -3.4028234663852886e38);
          const max = inputs[2] ? scalarOf(inputs[2], Infinity) : attrFloat(n, 'max', 3.4028234663852886e38);
          result = { tensor: tf.clipByValue(x.tensor, min, max), layout: x.layout };
          break;
        }
        case 'Relu': {
          const x = tensorOf(inputs[0]);
          result = { tensor: tf.relu(x.tensor), layout: x.layout };
          break;
        }
        case 'Add':
        case 'Sub':
        case 'Mul': {
          const a = tensorOf(inputs[0]);
          const b = tensorOf(inputs[1]);
          if (a.layout !== b.layout && a.tensor.rank === 4 && b.tensor.rank === 4) throw new InvalidInputError(`${n.opType} "${n.name}" mixes layouts.`);
          const layout = a.layout === 'nhwc' || b.layout === 'nhwc' ? 'nhwc' : 'plain';
          const op = n.opType === 'Add' ? tf.add : n.opType === 'Sub' ? tf.sub : tf.mul;
          result = { tensor: op(broadcastable(a, layout), broadcastable(b, layout)), layout };
          break;
        }
        case 'BatchNormalization': {
          const x = tensorOf(inputs[0]);
          const mean = tf.reshape(tensorOf(inputs[3]).tensor, [-1]);
          const variance = tf.reshape(tensorOf(inputs[4]).tensor, [-1]);
          const epsilon = attrFloat(n, 'epsilon', 1e-5);
          const normed = tf.div(tf.sub(x.tensor, mean), tf.sqrt(tf.add(variance, epsilon)));
          result = { tensor: tf.add(tf.mul(normed, variables.get(inputs[1])!), variables.get(inputs[2])!), layout: x.layout };
          break;
        }
        case 'GlobalAveragePool': {
          const x = tensorOf(inputs[0]);
          if (x.layout !== 'nhwc') throw new InvalidInputError(`GlobalAveragePool "${n.name}" needs a 4-d feature map.`);
          result = { tensor: tf.mean(x.tensor, [1, 2], true), layout: 'nhwc' };
          break;
        }
        case 'Identity': {
          const v = values.get(inputs[0]);
          result = v ?? tensorOf(inputs[0]);
          break;
        }
        case 'Shape': {
          const x = tensorOf(inputs[0]);
          const s = x.layout === 'nhwc' ? [x.tensor.shape[0], x.tensor.shape[3], x.tensor.shape[1], x.tensor.shape[2]] : x.tensor.shape;
          result = { ints: s as number[], scalar: false };
          break;
        }
        case 'Gather': {
          const data = intsOf(inputs[0]);
          const index = intsOf(inputs[1]);
          if (attrInt(n, 'axis', 0) !== 0) throw new InvalidInputError(`Gather "${n.name}" on shapes supports axis 0 only.`);
          const picked = index.ints.map((i) => data.ints[i < 0 ? data.ints.length + i : i]);
          result = { ints: picked, scalar: index.scalar };
          break;
        }
        case 'Unsqueeze': {
          const v = intsOf(inputs[0]);
          result = { ints: v.ints, scalar: false };
          break;
        }
        case 'Concat': {
          result = { ints: inputs.flatMap((i) => intsOf(i).ints), scalar: false };
          break;
        }
        case 'Reshape':
        case 'Flatten': {
          const x = tensorOf(inputs[0]);
          const source = nchw(x);
          let shape: number[];
          if (n.opType === 'Flatten') {
            const axis = attrInt(n, 'axis', 1);
            shape = [source.shape.slice(0, axis).reduce((p, d) => p * d, 1), -1];
          } else {
            shape = intsOf(inputs[1]).ints.map((d, i) => (d === 0 ? source.shape[i] : d));
          }
          result = { tensor: tf.reshape(source, shape), layout: 'plain' };
          break;
        }
        case 'MatMul':
        case 'Gemm': {
          const a = tensorOf(inputs[0]);
          const b = tensorOf(inputs[1]);
          const transA = n.opType === 'Gemm' && attrInt(n, 'transA', 0) === 1;
          const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
          const left = nchw(a);
          const right = b.tensor;
          // Batched (N-d) MatMul keeps tfjs's own product and gradient.
          const rank2 = (t: tfCore.Tensor): t is tfCore.Tensor2D => t.rank === 2;
          let y: tfCore.Tensor =
            rank2(left) && rank2(right)
              ? trainableMatMul(tf, transA ? tf.transpose(left) : left, transB ? tf.transpose(right) : right)
              : tf.matMul(left, right, transA, transB);
          if (n.opType === 'Gemm') {
            const alpha = attrFloat(n, 'alpha', 1);
            if (alpha !== 1) y = tf.mul(y, alpha);
            if (inputs[2]) y = tf.add(y, tf.mul(tensorOf(inputs[2]).tensor, attrFloat(n, 'beta', 1)));
          }
          result = { tensor: y, layout: 'plain' };
          break;
        }
        default:
          throw new InvalidInputError(`Op ${n.opType} is not supported.`);
      }
      values.set(out, result);
    }
    const output = values.get(options.to);
    if (!output || !('tensor' in output)) throw new InvalidInputError(`"${options.to}" is not a tensor output.`);
    return nchw(output);
  };

  const exportOnnx = (): Uint8Array => {
    const model = onnx.ModelProto.decode(modelBytes);
    for (const t of model.graph?.initializer ?? []) {
      const v = variables.get(t.name ?? '');
      if (!v) continue;
      const back = backToOnnx.get(t.name ?? '');
      const values = tf.tidy(() => (back ? tf.transpose(v, back) : tf.clone(v)).dataSync() as Float32Array);
      // Stored as raw little-endian float32 (what onnxruntime reads fastest), whatever it was before.
      const bytes = new Uint8Array(values.length * 4);
      const view = new DataView(bytes.buffer);
      values.forEach((x, i) => view.setFloat32(i * 4, x, true));
      t.rawData = bytes;
      t.floatData = [];
    }
    return onnx.ModelProto.encode(model).finish();
  };

  return {
    from: options.from,
    to: options.to,
    ops: nodes.map((n) => n.opType ?? ''),
    variables,
    apply: (activations) => tf.tidy(() => apply(activations)),
    exportOnnx,
    dispose: () => {
      for (const v of variables.values()) v.dispose();
      variables.clear();
    },
  };
}
