/**
 * Batch tensors built in WebAssembly memory by SIMD kernels (resample.wat) for the two
 * resampling passes: the horizontal pass sums R, G and B of a tap as one vector; the vertical
 * pass, which writes every value of the tensor, four columns at a time. In plain JS these passes
 * cost about a third of int8 MobileNetV2's inference time at batch 32 on a 2-core machine (see
 * `npm run bench:embed`). Plans and taps are image.ts's, and its JS passes round as the kernels
 * do, so both paths give identical tensors.
 *
 * Where WebAssembly cannot be compiled at run time (Cloudflare Workers, a page whose CSP lacks
 * 'wasm-unsafe-eval') or has no SIMD, `ImageTensorArena.create()` returns undefined and callers
 * use imagesToTensor.
 * @module
 */
import { RESAMPLE_WASM } from './resample-wasm.js';
import {
  channelAffine,
  horizontalPass,
  planeOffsets,
  plansFor,
  rowScratchFloats,
  type DecodedImage,
  type ImageSpec,
  type ResamplePlan,
  type Taps,
} from './image.js';

/** resample.wat's exports; every address is a byte offset into `memory`. */
interface ResampleKernels {
  memory: WebAssembly.Memory;
  horizontal(
    src: number, rowBytes: number, firstRow: number, rows: number, width: number,
    start: number, count: number, index: number, weight: number,
    outR: number, outG: number, outB: number,
    mR: number, mG: number, mB: number, aR: number, aG: number, aB: number,
  ): void;
  vertical(
    planes: number, planeBytes: number, firstRow: number, width: number, height: number,
    start: number, count: number, index: number, weight: number, out: number,
  ): void;
}

/** A batch tensor in the arena's memory; valid until `release()`. */
export interface ArenaTensor {
  data: Float32Array;
  dims: number[];
  release(): void;
}

const PAGE = 65536;
/**
 * RGB images up to this many bytes are copied into the arena for the horizontal kernel; larger
 * ones (a camera photo handed over undecimated) take the JS pass in place, which gives the same
 * values, rather than growing memory that is never given back.
 */
const MAX_COPIED_IMAGE_BYTES = 16 << 20;
const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;
const tapsBytes = (taps: Taps) => 4 * (taps.start.length + taps.count.length + taps.index.length + taps.weight.length);

export class ImageTensorArena {
  private busy = false;

  private constructor(private readonly kernels: ResampleKernels) {}

  static create(): ImageTensorArena | undefined {
    try {
      if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(RESAMPLE_WASM)) return undefined;
      const instance = new WebAssembly.Instance(new WebAssembly.Module(RESAMPLE_WASM), {});
      return new ImageTensorArena(instance.exports as unknown as ResampleKernels);
    } catch {
      return undefined; // run-time compilation refused by the embedder
    }
  }

  /**
   * The batch tensor for `images`, as imagesToTensor builds it. Undefined while an earlier
   * tensor is still held (a concurrent batch), or for NHWC layouts, which the kernels do not
   * write; the caller then builds it with imagesToTensor.
   */
  tensorFor(images: readonly DecodedImage[], spec: ImageSpec): ArenaTensor | undefined {
    if (this.busy || spec.layout !== 'NCHW' || images.length === 0) return undefined;
    const plans = plansFor(images, spec);
    const per = 3 * spec.width * spec.height;
    // Layout: row scratch | tensor | one source image (+16 bytes: the horizontal kernel reads a
    // byte past the last pixel) | its taps. Regions are 16-byte aligned for the vector loads.
    const scratchAt = 0;
    const tensorAt = scratchAt + align16(4 * Math.max(...plans.map((plan) => rowScratchFloats(plan, spec))));
    const srcAt = tensorAt + align16(4 * images.length * per);
    const copied = (img: DecodedImage, plan: ResamplePlan) => plan.channels === 3 && img.data.length <= MAX_COPIED_IMAGE_BYTES;
    const tapsAt = srcAt + align16(Math.max(0, ...images.map((img, i) => (copied(img, plans[i]) ? img.data.length : 0))) + 16);
    const needed = tapsAt + Math.max(...plans.map((plan) => tapsBytes(plan.tapsX) + tapsBytes(plan.tapsY)));
    const memory = this.kernels.memory;
    try {
      if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE));
    } catch {
      return undefined; // no room to grow: the caller's JS path needs less
    }
    // Views are made after growing: growth detaches earlier ones.
    const buffer = memory.buffer;
    const data = new Float32Array(buffer, tensorAt, images.length * per);
    const { mul, add } = channelAffine(spec);
    let placed: ResamplePlan | undefined;
    let tapsX = 0;
    let tapsY = 0;
    images.forEach((img, i) => {
      const plan = plans[i];
      if (plan !== placed) {
        tapsX = copyTaps(buffer, tapsAt, plan.tapsX);
        tapsY = copyTaps(buffer, tapsAt + tapsBytes(plan.tapsX), plan.tapsY);
        placed = plan;
      }
      const [pR, pG, pB] = planeOffsets(plan, spec).map((floats) => scratchAt + 4 * floats);
      if (copied(img, plan)) {
        new Uint8Array(buffer, srcAt, img.data.length).set(img.data);
        const [start, count, index, weight] = tapArrays(plan.tapsX, tapsX);
        this.kernels.horizontal(
          srcAt, img.width * 3, plan.firstRow, plan.rows, spec.width,
          start, count, index, weight,
          pR, pG, pB,
          mul[0], mul[1], mul[2], add[0], add[1], add[2],
        );
      } else {
        // Grey, RGBA (alpha compositing) and very large images take the JS pass into the same scratch.
        horizontalPass(img, plan, spec, new Float32Array(buffer, scratchAt, rowScratchFloats(plan, spec)));
      }
      const [start, count, index, weight] = tapArrays(plan.tapsY, tapsY);
      this.kernels.vertical(
        scratchAt, 4 * plan.rows * spec.width, plan.firstRow, spec.width, spec.height,
        start, count, index, weight, tensorAt + 4 * i * per,
      );
    });
    this.busy = true;
    let held = true;
    return {
      data,
      dims: [images.length, 3, spec.height, spec.width],
      // Only this lease's first release frees the arena (a second one must not free a newer lease).
      release: () => {
        if (held) this.busy = false;
        held = false;
      },
    };
  }
}

/** Copies taps to `at`, as start | count | index | weight; returns `at`. */
function copyTaps(buffer: ArrayBuffer, at: number, taps: Taps): number {
  const [start, count, index, weight] = tapArrays(taps, at);
  new Int32Array(buffer, start, taps.start.length).set(taps.start);
  new Int32Array(buffer, count, taps.count.length).set(taps.count);
  new Int32Array(buffer, index, taps.index.length).set(taps.index);
  new Float32Array(buffer, weight, taps.weight.length).set(taps.weight);
  return at;
}

/** Addresses of the four arrays of taps copied to `at`. */
function tapArrays(taps: Taps, at: number): [number, number, number, number] {
  const count = at + 4 * taps.start.length;
  const index = count + 4 * taps.count.length;
  return [at, count, index, index + 4 * taps.index.length];
}
