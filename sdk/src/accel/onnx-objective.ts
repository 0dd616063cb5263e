/**
 * The linear head's training objective as a small ONNX graph, so each L-BFGS evaluation runs
 * on onnxruntime's multithreaded GEMM (MLAS) instead of scalar JS — about 10× faster at
 * 10k × 1280. The optimiser, objective and optimum are the same as the JS path.
 * @module
 */
import onnxProto from 'onnx-proto';
import type * as OrtWeb from 'onnxruntime-web';
import { loadRuntime, type OnnxRuntimeOptions } from '../backbone/onnx/runtime.js';
import { addL2, type ObjectiveFactory } from '../heads/linear.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function input(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, number | number[]> = {}) {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    attribute: Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v) ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v } : { name, type: onnx.AttributeProto.AttributeType.INT, i: v },
    ),
  });
}

/**
 * Data term of the objective and its gradient. Inputs: X [n,d], W [r,d], b [r], Yw = wᵢ/Σw ·
 * one-hot (or ·target for binary) [n,r], Sw = wᵢ/Σw [n,1]. Outputs: loss, gW [r,d], gb [r].
 */
export function objectiveGraph(binary: boolean): Uint8Array {
  const nodes = binary
    ? [
        node('Gemm', ['X', 'W', 'b'], ['Z'], { transB: 1 }),
        node('Softplus', ['Z'], ['SoftplusZ']),
        node('Mul', ['Sw', 'SoftplusZ'], ['WeightedSoftplus']),
        node('Mul', ['Yw', 'Z'], ['WeightedTargetZ']),
        node('Sub', ['WeightedSoftplus', 'WeightedTargetZ'], ['PerSample']),
        node('ReduceSum', ['PerSample'], ['loss'], { keepdims: 0 }),
        node('Sigmoid', ['Z'], ['P']),
        node('Mul', ['Sw', 'P'], ['SwP']),
        node('Sub', ['SwP', 'Yw'], ['dZ']),
      ]
    : [
        node('Gemm', ['X', 'W', 'b'], ['Z'], { transB: 1 }),
        node('ReduceLogSumExp', ['Z'], ['LSE'], { axes: [1], keepdims: 1 }),
        node('Sub', ['Z', 'LSE'], ['LogP']),
        node('Exp', ['LogP'], ['P']),
        node('Mul', ['Yw', 'LogP'], ['WeightedLogP']),
        node('ReduceSum', ['WeightedLogP'], ['NegLoss'], { keepdims: 0 }),
        node('Neg', ['NegLoss'], ['loss']),
        node('Mul', ['Sw', 'P'], ['SwP']),
        node('Sub', ['SwP', 'Yw'], ['dZ']),
      ];
  const graph = onnx.GraphProto.create({
    name: 'edgehead-linear-objective',
    input: [input('X', ['n', 'd']), input('W', ['r', 'd']), input('b', ['r']), input('Yw', ['n', 'r']), input('Sw', ['n', 1])],
    node: [...nodes, node('Gemm', ['dZ', 'X'], ['gW'], { transA: 1 }), node('ReduceSum', ['dZ'], ['gb'], { axes: [0], keepdims: 0 })],
    output: [input('loss', []), input('gW', ['r', 'd']), input('gb', ['r'])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 12 }], graph })).finish();
}

/** An ObjectiveFactory for LinearHead.fitAsync backed by onnxruntime (node by default). */
export function createOnnxObjective(runtimeOptions: OnnxRuntimeOptions = { device: 'auto' }): ObjectiveFactory {
  return async (x, y, rows, sampleWeight, C) => {
    const runtime = await loadRuntime(runtimeOptions);
    const { Tensor, InferenceSession } = runtime.ort;
    const session = await InferenceSession.create(objectiveGraph(rows === 1), {
      executionProviders: runtime.executionProviders,
      ...(runtime.device === 'node' && runtimeOptions.threads ? { intraOpNumThreads: runtimeOptions.threads } : {}),
    });
    const n = x.rows;
    const d = x.cols;
    const total = sampleWeight.reduce((a, b) => a + b, 0);
    const yw = new Float32Array(n * rows);
    const sw = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      sw[i] = sampleWeight[i] / total;
      if (rows === 1) yw[i] = y[i] === 1 ? sw[i] : 0;
      else yw[i * rows + y[i]] = sw[i];
    }
    // Fixed inputs are wrapped once; only W and b change between evaluations.
    const fixed: Record<string, OrtWeb.Tensor> = {
      X: new Tensor('float32', x.data, [n, d]),
      Yw: new Tensor('float32', yw, [n, rows]),
      Sw: new Tensor('float32', sw, [n, 1]),
    };
    const w = new Float32Array(rows * d);
    const b = new Float32Array(rows);
    return {
      evaluate: async (theta, grad) => {
        for (let i = 0; i < rows * d; i++) w[i] = theta[i];
        for (let r = 0; r < rows; r++) b[r] = theta[rows * d + r];
        const out = await session.run({ ...fixed, W: new Tensor('float32', w, [rows, d]), b: new Tensor('float32', b, [rows]) });
        const gW = out.gW.data as Float32Array;
        const gb = out.gb.data as Float32Array;
        for (let i = 0; i < rows * d; i++) grad[i] = gW[i];
        for (let r = 0; r < rows; r++) grad[rows * d + r] = gb[r];
        return Number((out.loss.data as Float32Array)[0]) + addL2(theta, grad, rows * d, C, total);
      },
      dispose: () => session.release(),
    };
  };
}
