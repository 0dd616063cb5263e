/**
 * In-memory ONNX graph surgery: expose an inner tensor as an output ("cut" the network there),
 * prune everything the requested outputs do not depend on, and dequantize a quantized tensor.
 * This is how a classifier becomes a feature extractor without re-exporting the model.
 * @module
 */
import onnxProto from 'onnx-proto';
import { InvalidInputError, TensorNotFoundError, nearestNames } from '../../core/errors.js';

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type GraphProto = onnxProto.onnx.IGraphProto;
type NodeProto = onnxProto.onnx.INodeProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const QUANTIZED_TYPES = new Set<number>([onnx.TensorProto.DataType.UINT8, onnx.TensorProto.DataType.INT8]);

/** Ops that move quantized values around without changing their scale or zero point. */
const QUANT_PRESERVING_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity']);

export interface GraphSummary {
  inputs: Array<{ name: string; elemType: number; shape: Array<number | string> }>;
  outputs: Array<{ name: string; elemType: number; shape: Array<number | string> }>;
  /** Every tensor produced by a node, in topological order: candidates for a cut. */
  tensors: Array<{ name: string; op: string }>;
}

// Not exported: onnx-proto's types need protobufjs's global `Long`, which a user's strict
// type-check (skipLibCheck: false) cannot find; the public API speaks bytes and GraphSummary.
function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new InvalidInputError(
      'The model bytes are not a valid ONNX protobuf (truncated download or not an .onnx file?). Re-fetch the model and check its sha256.',
      { cause },
    );
  }
}

function valueInfoShape(vi: onnxProto.onnx.IValueInfoProto): { elemType: number; shape: Array<number | string> } {
  const t = vi.type?.tensorType;
  return {
    elemType: t?.elemType ?? 0,
    shape: (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? -1))),
  };
}

/** Inputs, outputs and every inner tensor (cut candidates) of an ONNX model. */
export function summarizeModel(bytes: Uint8Array): GraphSummary {
  const g = decodeModel(bytes).graph;
  if (!g) throw new InvalidInputError('The ONNX model has no graph.');
  const initializers = new Set((g.initializer ?? []).map((t) => t.name));
  return {
    inputs: (g.input ?? []).filter((i) => !initializers.has(i.name)).map((i) => ({ name: i.name ?? '', ...valueInfoShape(i) })),
    outputs: (g.output ?? []).map((o) => ({ name: o.name ?? '', ...valueInfoShape(o) })),
    tensors: (g.node ?? []).flatMap((n) => (n.output ?? []).map((name) => ({ name, op: n.opType ?? '' }))),
  };
}

/** Ops after which an image network's spatial maps are gone (the classifier part). */
const POOLING_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'Flatten', 'QLinearGlobalAveragePool']);
/** Elementwise activations that close a block after its residual Add. */
const ACTIVATION_OPS = new Set(['Clip', 'Relu', 'LeakyRelu', 'HardSwish', 'Sigmoid']);

/**
 * Candidate cut points of a residual network, first to last: the output of each residual Add
 * (Add, QLinearAdd; after the activation that directly follows it, if any) before the first
 * global pooling — the "output of each block" in MobileNetV2 or ResNet terms. Pooled, each is a
 * shallower, more generic embedding than the last layer.
 */
export function blockOutputs(summary: GraphSummary): string[] {
  const outputs: string[] = [];
  const { tensors } = summary;
  for (let i = 0; i < tensors.length; i++) {
    if (POOLING_OPS.has(tensors[i].op)) break;
    if (!/Add$/.test(tensors[i].op)) continue;
    const next = tensors[i + 1];
    outputs.push(next && ACTIVATION_OPS.has(next.op) ? next.name : tensors[i].name);
  }
  return outputs;
}

export interface CutOptions {
  /** The tensor to expose. Must be produced by a node (or be a graph input). */
  tensor: string;
  /** Other existing outputs to keep alongside the cut (e.g. the logits). Default: none. */
  keepOutputs?: string[];
  /** Turn a uint8/int8 tensor into float32 with its own scale and zero point. Default: true. */
  dequantize?: boolean;
}

export interface CutResult {
  bytes: Uint8Array;
  /** The name of the output that now carries the cut tensor (differs when a DequantizeLinear was added). */
  outputName: string;
  dequantized: boolean;
}

/**
 * Returns a new model whose outputs are the cut tensor (plus `keepOutputs`), with every node
 * that does not feed them removed.
 */
export function cutModel(bytes: Uint8Array, options: CutOptions): CutResult {
  const model = decodeModel(bytes);
  const g = model.graph as GraphProto;
  const nodes = g.node ?? [];
  const producers = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producers.set(o, n);
  const graphInputs = new Set((g.input ?? []).map((i) => i.name ?? ''));
  const { tensor } = options;
  if (!producers.has(tensor) && !graphInputs.has(tensor)) {
    throw new TensorNotFoundError(tensor, nearestNames(tensor, producers.keys()));
  }
  for (const keep of options.keepOutputs ?? []) {
    if (!(g.output ?? []).some((o) => o.name === keep)) {
      throw new TensorNotFoundError(keep, nearestNames(keep, (g.output ?? []).map((o) => o.name ?? '')));
    }
  }

  const elemType = tensorElemType(g, producers, tensor);
  let outputName = tensor;
  let dequantized = false;
  if ((options.dequantize ?? true) && QUANTIZED_TYPES.has(elemType)) {
    const params = findQuantParams(g, producers, tensor);
    if (!params) {
      throw new InvalidInputError(
        `Tensor "${tensor}" is quantized but its scale and zero point could not be found; cut at a float tensor or pass dequantize: false.`,
      );
    }
    outputName = `${tensor}_dequantized`;
    nodes.push(
      onnx.NodeProto.create({
        name: `edgehead_dequantize_${tensor}`,
        opType: 'DequantizeLinear',
        input: [tensor, params.scale, params.zeroPoint],
        output: [outputName],
      }),
    );
    dequantized = true;
  }

  const keptOutputs = (g.output ?? []).filter((o) => options.keepOutputs?.includes(o.name ?? ''));
  const existing = [...(g.valueInfo ?? []), ...(g.output ?? [])].find((v) => v.name === outputName);
  const cutOutput = existing
    ? onnx.ValueInfoProto.create({ name: outputName, type: existing.type })
    : onnx.ValueInfoProto.create({
        name: outputName,
        type: { tensorType: { elemType: dequantized ? FLOAT : elemType || FLOAT } },
      });
  g.output = [cutOutput, ...keptOutputs];
  prune(g);
  return { bytes: onnx.ModelProto.encode(model).finish(), outputName, dequantized };
}

/** Keeps only the nodes, initializers and value infos reachable backwards from the outputs. */
function prune(g: GraphProto): void {
  const nodes = g.node ?? [];
  const producers = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producers.set(o, i)));
  const needed = new Set<string>();
  const keepNode = new Set<number>();
  const stack = (g.output ?? []).map((o) => o.name ?? '');
  while (stack.length) {
    const name = stack.pop() as string;
    if (needed.has(name)) continue;
    needed.add(name);
    const idx = producers.get(name);
    if (idx === undefined || keepNode.has(idx)) continue;
    keepNode.add(idx);
    const n = nodes[idx];
    for (const input of n.input ?? []) if (input) stack.push(input);
    // Subgraphs (If/Loop) reference outer tensors implicitly; keep everything they might use.
    for (const a of n.attribute ?? []) {
      for (const sub of [a.g, ...(a.graphs ?? [])]) {
        for (const sn of sub?.node ?? []) for (const input of sn.input ?? []) if (input) stack.push(input);
      }
    }
  }
  g.node = nodes.filter((_, i) => keepNode.has(i));
  g.initializer = (g.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
  g.valueInfo = (g.valueInfo ?? []).filter((v) => needed.has(v.name ?? ''));
  // Graph inputs stay (the session's feeds must not change), except initializer-backed ones no longer used.
  const initNames = new Set((g.initializer ?? []).map((t) => t.name));
  g.input = (g.input ?? []).filter((i) => needed.has(i.name ?? '') || !initNames.has(i.name ?? ''));
}

function initializerElemType(g: GraphProto, name: string): number | undefined {
  return (g.initializer ?? []).find((t) => t.name === name)?.dataType ?? undefined;
}

/** Element type of a tensor, from value infos, or from the op that produced it. */
function tensorElemType(g: GraphProto, producers: Map<string, NodeProto>, name: string): number {
  const vi = [...(g.valueInfo ?? []), ...(g.input ?? []), ...(g.output ?? [])].find((v) => v.name === name);
  const known = vi?.type?.tensorType?.elemType;
  if (known) return known;
  const init = initializerElemType(g, name);
  if (init) return init;
  const node = producers.get(name);
  if (!node) return FLOAT;
  const op = node.opType ?? '';
  const inputs = node.input ?? [];
  if (op === 'QuantizeLinear') return initializerElemType(g, inputs[2] ?? '') ?? onnx.TensorProto.DataType.UINT8;
  if (op.startsWith('QLinear')) return initializerElemType(g, inputs[outputQuantIndex(op) + 1] ?? '') ?? FLOAT;
  if (QUANT_PRESERVING_OPS.has(op)) return tensorElemType(g, producers, inputs[0] ?? '');
  return FLOAT;
}

/** Index of the output scale among a QLinear op's inputs (zero point follows it). */
function outputQuantIndex(op: string): number {
  return op === 'QLinearGlobalAveragePool' || op === 'QLinearAveragePool' || op === 'QLinearSigmoid' || op === 'QLinearLeakyRelu'
    ? 3
    : 6;
}

/**
 * Scale and zero point of a quantized tensor: read off a consumer that dequantizes it (QLinear ops
 * take `x, x_scale, x_zero_point` triples), else off the producer, looking through ops that do not
 * change quantisation (Reshape, Flatten…).
 */
function findQuantParams(
  g: GraphProto,
  producers: Map<string, NodeProto>,
  name: string,
): { scale: string; zeroPoint: string } | undefined {
  for (const n of g.node ?? []) {
    const op = n.opType ?? '';
    if (op !== 'DequantizeLinear' && !op.startsWith('QLinear')) continue;
    const inputs = n.input ?? [];
    for (const position of [0, 3]) {
      if (inputs[position] === name && inputs[position + 2]) {
        return { scale: inputs[position + 1], zeroPoint: inputs[position + 2] };
      }
    }
  }
  let current = producers.get(name);
  while (current) {
    const op = current.opType ?? '';
    const inputs = current.input ?? [];
    if (op === 'QuantizeLinear' && inputs[2]) return { scale: inputs[1], zeroPoint: inputs[2] };
    if (op.startsWith('QLinear')) {
      const i = outputQuantIndex(op);
      if (inputs[i] && inputs[i + 1]) return { scale: inputs[i], zeroPoint: inputs[i + 1] };
      return undefined;
    }
    if (!QUANT_PRESERVING_OPS.has(op)) return undefined;
    current = producers.get(inputs[0] ?? '');
  }
  return undefined;
}
