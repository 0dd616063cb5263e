import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { withExactInt8Weights } from '../src/backbone/onnx/exact-int8.js';
import { OnnxSession } from '../src/backbone/onnx/session.js';

const { onnx } = onnxProto;
const { FLOAT, UINT8, INT8 } = onnx.TensorProto.DataType;
const K = 16;

const tensor = (name: string, dataType: number, dims: number[], values: number[]) =>
  onnx.TensorProto.create({
    name,
    dataType,
    dims,
    ...(dataType === FLOAT ? { floatData: values } : { rawData: Uint8Array.from(values, (v) => v & 0xff) }),
  });
const value = (name: string, dims: number[]) =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

/**
 * Inputs of 255 against weights of ±127/−128: each pair of products sums to ±64,770, past the
 * int16 range that VPMADDUBSW saturates at, so a U8S8 kernel without VNNI gets these wrong.
 */
function saturatingModel(): Uint8Array {
  const column = (a: number, b: number) => Array.from({ length: K }, () => [a, b]).flat();
  const graph = onnx.GraphProto.create({
    name: 'saturation',
    input: [value('x', [1, K]), value('image', [1, K, 1, 1])],
    output: [value('matmul', [1, 2]), value('matmul_no_zero_point', [1, 2]), value('conv', [1, 2, 1, 1]), value('dequantized_weights', [K, 2])],
    initializer: [
      tensor('one', FLOAT, [], [1]),
      tensor('x_zero', UINT8, [], [0]),
      tensor('b', INT8, [K, 2], column(127, -128)),
      tensor('b_zero', INT8, [], [0]),
      tensor('b_unpaired', INT8, [K, 2], column(127, -128)),
      tensor('b_shared', INT8, [K, 2], column(127, 3)),
      tensor('shared_zero', INT8, [], [0]),
      tensor('w', INT8, [2, K, 1, 1], [...Array(K).fill(127), ...Array(K).fill(1)]),
      tensor('w_zero', INT8, [], [0]),
      tensor('y_scale', FLOAT, [], [4096]),
    ],
    node: [
      { opType: 'QuantizeLinear', input: ['x', 'one', 'x_zero'], output: ['xq'] },
      { opType: 'MatMulInteger', input: ['xq', 'b', 'x_zero', 'b_zero'], output: ['acc'] },
      { opType: 'Cast', input: ['acc'], output: ['matmul'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] },
      { opType: 'MatMulInteger', input: ['xq', 'b_unpaired', 'x_zero'], output: ['acc2'] },
      { opType: 'Cast', input: ['acc2'], output: ['matmul_no_zero_point'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] },
      // Also read by a DequantizeLinear: must stay int8.
      { opType: 'DequantizeLinear', input: ['b_shared', 'one', 'shared_zero'], output: ['dequantized_weights'] },
      { opType: 'QuantizeLinear', input: ['image', 'one', 'x_zero'], output: ['imageq'] },
      { opType: 'QLinearConv', input: ['imageq', 'one', 'x_zero', 'w', 'one', 'w_zero', 'y_scale', 'x_zero'], output: ['convq'] },
      { opType: 'DequantizeLinear', input: ['convq', 'y_scale', 'x_zero'], output: ['conv'] },
    ].map((n) => onnx.NodeProto.create(n)),
  });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'edgehead-test', opsetImport: [{ domain: '', version: 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

describe('int8 weights on CPUs without VNNI', () => {
  // Hand-computed: 16 × 255 × 127 = 518,160; 16 × 255 × −128 = −522,240; the conv's second
  // channel 16 × 255 × 1 = 4,080; requantized by 4,096: round(126.504) = 127 and round(0.996) = 1.
  const expected = {
    matmul: [518160, -522240],
    conv: [127 * 4096, 4096],
  };

  for (const device of ['node', 'wasm'] as const) {
    it(`the saturating case gives the exact integer sums on ${device}`, async () => {
      const session = await OnnxSession.create(saturatingModel(), 'saturation', { device });
      const feeds = {
        x: { type: 'float32' as const, data: new Float32Array(K).fill(255), dims: [1, K] },
        image: { type: 'float32' as const, data: new Float32Array(K).fill(255), dims: [1, K, 1, 1] },
      };
      const out = await session.run(feeds, ['matmul', 'matmul_no_zero_point', 'conv', 'dequantized_weights']);
      expect([...out.matmul.data]).toEqual(expected.matmul);
      expect([...out.matmul_no_zero_point.data]).toEqual(expected.matmul);
      expect([...out.conv.data]).toEqual(expected.conv);
      expect([...out.dequantized_weights.data.slice(0, 2)]).toEqual([127, 3]);
      await session.release();
    });
  }

  it('rewrites only weights read as weights, shifting values and zero points by 128', () => {
    const rewritten = onnx.ModelProto.decode(withExactInt8Weights(saturatingModel()));
    const init = new Map((rewritten.graph?.initializer ?? []).map((t) => [t.name, t]));
    expect(init.get('b')?.dataType).toBe(UINT8);
    expect([...(init.get('b')?.rawData ?? []).slice(0, 2)]).toEqual([255, 0]); // 127 + 128, −128 + 128
    expect([...(init.get('b_zero')?.rawData ?? [])]).toEqual([128]);
    expect(init.get('b_shared')?.dataType).toBe(INT8);
    expect(init.get('shared_zero')?.dataType).toBe(INT8);
    expect(init.get('x_zero')?.dataType).toBe(UINT8);
    const unpaired = rewritten.graph?.node?.find((n) => n.output?.[0] === 'acc2');
    expect([...(init.get(unpaired?.input?.[3] ?? '')?.rawData ?? [])]).toEqual([128]);
  });

  it('leaves a model without integer ops byte for byte as it was', () => {
    const graph = onnx.GraphProto.create({
      input: [value('x', [1, 2])],
      output: [value('y', [1, 2])],
      node: [onnx.NodeProto.create({ opType: 'Relu', input: ['x'], output: ['y'] })],
    });
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ version: 13 }], graph })).finish();
    expect(withExactInt8Weights(bytes)).toBe(bytes);
  });
});
