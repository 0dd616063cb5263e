/**
 * Quantized models with uint8 activations and int8 weights (U8S8, e.g. the ONNX Model Zoo's
 * MobileNetV2 int8) give CPU-dependent answers in onnxruntime: on x86 CPUs without VNNI
 * (AMD Zen 3, Intel before Cascade Lake) its U8S8 kernels multiply-add with VPMADDUBSW, whose
 * 16-bit sums saturate. Measured on an AMD EPYC (AVX2 only): the int8 MobileNetV2's embeddings
 * had cosine 0.70 to the same model on a VNNI machine and to its float32 twin, where they agree
 * to ≥ 0.985. onnxruntime's own quantization guide names the remedy: uint8 weights (U8U8), whose
 * kernels widen to 16 bits before multiplying and are exact everywhere.
 *
 * The rewrite is exact integer arithmetic, not an approximation: int8 `w` with zero point `z`
 * becomes uint8 `w + 128` with zero point `z + 128`, and `(w + 128) − (z + 128) = w − z`. On a
 * machine where U8S8 was already exact the outputs do not change.
 * @module
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type GraphProto = onnxProto.onnx.IGraphProto;
type TensorProto = onnxProto.onnx.ITensorProto;

const INT8 = onnx.TensorProto.DataType.INT8;
const UINT8 = onnx.TensorProto.DataType.UINT8;

/** Where each op takes its activation zero point, its weights and their zero point. */
const WEIGHT_SLOTS: Record<string, { activationZeroPoint: number; weights: number; weightZeroPoint: number }> = {
  QLinearConv: { activationZeroPoint: 2, weights: 3, weightZeroPoint: 5 },
  QLinearMatMul: { activationZeroPoint: 2, weights: 3, weightZeroPoint: 5 },
  ConvInteger: { activationZeroPoint: 2, weights: 1, weightZeroPoint: 3 },
  MatMulInteger: { activationZeroPoint: 2, weights: 1, weightZeroPoint: 3 },
};

/** ASCII needles: a model none of whose bytes spell one of these ops is returned untouched, undecoded. */
const NEEDLES = Object.keys(WEIGHT_SLOTS).map((op) => new TextEncoder().encode(op));

/**
 * Returns the model with every U8S8 weight tensor turned into uint8 (see the module comment),
 * or the same bytes when there is nothing to rewrite. Tensors that are also read elsewhere
 * (say by a DequantizeLinear) keep their type, and so do the ops that use them.
 */
export function withExactInt8Weights(bytes: Uint8Array): Uint8Array {
  if (!NEEDLES.some((needle) => contains(bytes, needle))) return bytes;
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return bytes; // not ours to judge here: the runtime reports an unreadable model with its own words
  }
  const graph = model.graph;
  if (!graph || !rewriteGraph(graph)) return bytes;
  return onnx.ModelProto.encode(model).finish();
}

function rewriteGraph(graph: GraphProto): boolean {
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const nodes = graph.node ?? [];
  const dynamicallyQuantized = new Set(nodes.filter((n) => n.opType === 'DynamicQuantizeLinear').map((n) => n.output?.[2] ?? ''));
  const eligible = nodes.map((n) => {
    const slots = WEIGHT_SLOTS[n.opType ?? ''];
    if (!slots || (n.domain && n.domain !== 'ai.onnx')) return false;
    const inputs = n.input ?? [];
    const activationZeroPoint = inputs[slots.activationZeroPoint] ?? '';
    const activationIsUint8 = initializers.get(activationZeroPoint)?.dataType === UINT8 || dynamicallyQuantized.has(activationZeroPoint);
    const zeroPointName = inputs[slots.weightZeroPoint] ?? '';
    // A zero point computed at run time, or one already uint8, is not ours to shift.
    const zeroPointOk = !zeroPointName || initializers.get(zeroPointName)?.dataType === INT8;
    return activationIsUint8 && zeroPointOk && initializers.get(inputs[slots.weights] ?? '')?.dataType === INT8;
  });
  // A tensor is shifted only if every read of it is a weight slot of an eligible op.
  const sharedOtherwise = new Set<string>();
  nodes.forEach((n, i) => {
    const slots = WEIGHT_SLOTS[n.opType ?? ''];
    (n.input ?? []).forEach((name, slot) => {
      const weightSlot = slots !== undefined && (slot === slots.weights || slot === slots.weightZeroPoint);
      if (initializers.has(name) && !(eligible[i] && weightSlot)) sharedOtherwise.add(name);
    });
  });

  const converted = new Set<string>();
  let changed = false;
  nodes.forEach((n, i) => {
    if (!eligible[i]) return;
    const slots = WEIGHT_SLOTS[n.opType ?? ''];
    const inputs = n.input ?? [];
    const weights = initializers.get(inputs[slots.weights]) as TensorProto;
    const zeroPointName = inputs[slots.weightZeroPoint] ?? '';
    if (sharedOtherwise.has(weights.name ?? '') || sharedOtherwise.has(zeroPointName)) return;
    shiftToUint8(weights, converted);
    if (zeroPointName) {
      shiftToUint8(initializers.get(zeroPointName) as TensorProto, converted);
    } else {
      // An absent zero point means 0 for int8, which is 128 once the weights are shifted.
      const name = `${weights.name}_edgehead_uint8_zero_point`;
      if (!initializers.has(name)) {
        const scalar = onnx.TensorProto.create({ name, dataType: UINT8, dims: [], rawData: new Uint8Array([128]) });
        graph.initializer = [...(graph.initializer ?? []), scalar];
        initializers.set(name, scalar);
      }
      while (inputs.length <= slots.weightZeroPoint) inputs.push('');
      inputs[slots.weightZeroPoint] = name;
      n.input = inputs;
    }
    changed = true;
  });
  return changed;
}

/** int8 → uint8 by adding 128, which in two's complement is flipping the top bit. */
function shiftToUint8(tensor: TensorProto, converted: Set<string>): void {
  const name = tensor.name ?? '';
  if (converted.has(name)) return;
  converted.add(name);
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : Uint8Array.from(tensor.int32Data ?? [], (v) => v & 0xff);
  const shifted = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) shifted[i] = raw[i] ^ 0x80;
  tensor.rawData = shifted;
  tensor.int32Data = [];
  tensor.dataType = UINT8;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0];
  const last = haystack.length - needle.length;
  outer: for (let i = haystack.indexOf(first); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
