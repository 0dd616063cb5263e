/**
 * Exact nearest-neighbour search on onnxruntime: one graph computes query·referenceᵀ with
 * MLAS's multithreaded GEMM and keeps the top k per query (TopK), block by block. Same
 * neighbours as the JS search in KnnHead (up to float32 rounding of near-ties).
 * @module
 */
import onnxProto from 'onnx-proto';
import type * as OrtWeb from 'onnxruntime-web';
import { loadRuntime, type OnnxRuntimeOptions } from '../backbone/onnx/runtime.js';
import type { NeighbourSearch } from '../heads/knn.js';
import type { Matrix } from '../heads/matrix.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

/**
 * Inputs Q [m,d], R [n,d], Bias [1,n], K [1] (int64). Score = Q·Rᵀ + Bias, top K largest.
 * Cosine/dot: Bias = 0 on unit/raw rows. Euclidean: Score = q·r − ‖r‖²/2 (ranks as −‖q−r‖²).
 */
function searchGraph(): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'edgehead-knn-topk',
    input: [valueInfo('Q', FLOAT, ['m', 'd']), valueInfo('R', FLOAT, ['n', 'd']), valueInfo('Bias', FLOAT, [1, 'n']), valueInfo('K', INT64, [1])],
    node: [
      onnx.NodeProto.create({ opType: 'Gemm', input: ['Q', 'R', 'Bias'], output: ['Score'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }),
      onnx.NodeProto.create({ opType: 'TopK', input: ['Score', 'K'], output: ['Values', 'Indices'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }),
    ],
    output: [valueInfo('Values', FLOAT, ['m', 'k']), valueInfo('Indices', INT64, ['m', 'k'])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 11 }], graph })).finish();
}

const QUERY_BLOCK = 1024;

/** A NeighbourSearch for KnnHead.kneighborsAsync / predictAsync, on onnxruntime (node by default). */
export async function createOnnxNeighbourSearch(runtimeOptions: OnnxRuntimeOptions = { device: 'auto' }): Promise<NeighbourSearch & { dispose(): Promise<void> }> {
  const runtime = await loadRuntime(runtimeOptions);
  const { Tensor, InferenceSession } = runtime.ort;
  const session = await InferenceSession.create(searchGraph(), { executionProviders: runtime.executionProviders });
  return {
    async search(queries: Matrix, references: Matrix, referenceBias: Float32Array, k: number) {
      const m = queries.rows;
      const n = references.rows;
      const kk = Math.min(k, n);
      const rows = new Int32Array(m * kk);
      const scores = new Float32Array(m * kk);
      const fixed: Record<string, OrtWeb.Tensor> = {
        R: new Tensor('float32', references.data, [n, references.cols]),
        Bias: new Tensor('float32', referenceBias, [1, n]),
        K: new Tensor('int64', BigInt64Array.of(BigInt(kk)), [1]),
      };
      for (let q0 = 0; q0 < m; q0 += QUERY_BLOCK) {
        const qRows = Math.min(QUERY_BLOCK, m - q0);
        const Q = new Tensor('float32', queries.data.subarray(q0 * queries.cols, (q0 + qRows) * queries.cols), [qRows, queries.cols]);
        const out = await session.run({ ...fixed, Q });
        const idx = out.Indices.data as BigInt64Array;
        const val = out.Values.data as Float32Array;
        for (let i = 0; i < qRows * kk; i++) {
          rows[q0 * kk + i] = Number(idx[i]);
          scores[q0 * kk + i] = val[i];
        }
      }
      return { rows, scores, k: kk };
    },
    dispose: () => session.release(),
  };
}
