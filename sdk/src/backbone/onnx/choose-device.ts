/**
 * Chooses an execution provider by measurement, not by trust: an execution provider can run a
 * model and return wrong numbers (onnxruntime-web's WebGPU path on the int8 MobileNetV2 gives
 * embeddings with cosine ≈ 0.4 to the correct ones). Before a WebGPU session is used, the same
 * probe input runs on WASM (the reference) and on WebGPU; WebGPU is kept only when its output
 * matches (cosine ≥ PROBE_MIN_COSINE) and, under `auto`, only when it is also faster.
 * @module
 */
import { BackendUnavailableError } from '../../core/errors.js';
import { cosineSimilarity } from '../../core/vector.js';
import { isNode, hasWebGpu, loadDevice, loadRuntime, type ConcreteDevice, type OnnxRuntimeOptions } from './runtime.js';
import { OnnxSession, type Feed } from './session.js';

/** Below this cosine to the WASM reference an execution provider is computing something else. */
export const PROBE_MIN_COSINE = 0.999;

/** One input the model is run on to check and time an execution provider. */
export interface Probe {
  feeds: Record<string, Feed>;
  output: string;
}

export interface DeviceCandidate {
  device: ConcreteDevice;
  /** Whether this provider was correct on the probe (and loaded at all). */
  ok: boolean;
  /** Median milliseconds per probe run, when it ran. */
  msPerRun?: number;
  /** Cosine of its probe output to the WASM reference (WebGPU only). */
  cosine?: number;
  /** Why it was rejected, when it was. */
  reason?: string;
}

/** How a backbone's runtime was chosen; `candidates` lists what was measured. */
export interface DeviceReport {
  device: ConcreteDevice;
  reason: string;
  candidates: DeviceCandidate[];
  /** True when the decision came from an earlier probe of the same model on this device. */
  cached?: boolean;
}

const TIMED_RUNS = 3;
const decisions = new Map<string, ConcreteDevice>();

/** Opens a session on the device `options.device` asks for, checking WebGPU against WASM first. */
export async function openCheckedSession(
  bytes: Uint8Array,
  label: string,
  modelKey: string,
  probe: Probe,
  options: OnnxRuntimeOptions = {},
): Promise<{ session: OnnxSession; report: DeviceReport }> {
  const requested = options.device ?? 'auto';
  if (requested === 'node' || requested === 'wasm') {
    const session = await OnnxSession.create(bytes, label, options, await loadDevice(requested, options));
    return { session, report: { device: requested, reason: 'requested', candidates: [] } };
  }
  if (requested === 'auto' && (isNode || !hasWebGpu())) {
    const runtime = await loadRuntime(options);
    const session = await OnnxSession.create(bytes, label, options, runtime);
    const reason = isNode
      ? runtime.device === 'node' ? 'onnxruntime-node (native) is installed' : 'onnxruntime-node is not installed; WASM fallback'
      : 'WebGPU is not available here';
    return { session, report: { device: runtime.device, reason, candidates: [] } };
  }

  const key = `${modelKey}|${typeof navigator === 'undefined' ? '' : navigator.userAgent}`;
  const remembered = requested === 'auto' ? (decisions.get(key) ?? readStoredDecision(key)) : undefined;
  if (remembered) {
    const session = await OnnxSession.create(bytes, label, options, await loadDevice(remembered, options));
    return { session, report: { device: remembered, reason: 'chosen by an earlier probe of this model here', candidates: [], cached: true } };
  }

  // WebGPU is asked for or possible: measure it against the WASM reference. The WebGPU session
  // is created first: with onnxruntime-web 1.30, releasing a WASM session created after a
  // WebGPU one breaks the WebGPU session ("no GPU data for input"), so the order matters.
  let gpu: OnnxSession | undefined;
  let gpuRun: { output: Float32Array; ms: number } | undefined;
  let gpuError: string | undefined;
  try {
    gpu = await OnnxSession.create(bytes, label, options, await loadDevice('webgpu', options));
    gpuRun = await timeProbe(gpu, probe);
  } catch (cause) {
    gpuError = `it failed to run: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
  const reference = await OnnxSession.create(bytes, label, options, await loadDevice('wasm', options));
  const wasm = await timeProbe(reference, probe);
  const candidates: DeviceCandidate[] = [{ device: 'wasm', ok: true, msPerRun: wasm.ms }];
  if (gpuRun) {
    const cosine = cosineSimilarity(gpuRun.output, wasm.output);
    const ok = Number.isFinite(cosine) && cosine >= PROBE_MIN_COSINE;
    candidates.push({
      device: 'webgpu',
      ok,
      msPerRun: gpuRun.ms,
      cosine,
      ...(ok ? {} : { reason: `its output differs from WASM on the probe (cosine ${cosine.toFixed(4)} < ${PROBE_MIN_COSINE})` }),
    });
  } else {
    candidates.push({ device: 'webgpu', ok: false, reason: gpuError });
  }
  const webgpu = candidates[1];
  if (requested === 'webgpu' && !webgpu.ok) {
    await Promise.all([reference.release(), gpu?.release()]);
    throw new BackendUnavailableError(
      `WebGPU cannot be used for ${label}: ${webgpu.reason}. Use device "wasm" (or "auto", which checks and falls back).`,
    );
  }
  const useGpu = webgpu.ok && (requested === 'webgpu' || (webgpu.msPerRun ?? Infinity) < (wasm.ms ?? Infinity));
  if (!webgpu.ok) (options.onWarning ?? console.warn)(`edgehead: WebGPU rejected for ${label}: ${webgpu.reason}; using WASM.`);
  const device: ConcreteDevice = useGpu ? 'webgpu' : 'wasm';
  await (useGpu ? reference : gpu)?.release();
  if (requested === 'auto') {
    decisions.set(key, device);
    storeDecision(key, device);
  }
  const reason = useGpu
    ? requested === 'webgpu' ? 'requested; matches WASM on the probe' : 'WebGPU matches WASM on the probe and is faster'
    : webgpu.ok ? 'WASM is faster than WebGPU on the probe' : 'WebGPU was rejected';
  return { session: useGpu ? gpu! : reference, report: { device, reason, candidates } };
}

async function timeProbe(session: OnnxSession, probe: Probe): Promise<{ output: Float32Array; ms: number }> {
  // The first run compiles shaders / allocates; it is not timed.
  const output = (await session.run(probe.feeds, [probe.output]))[probe.output].data;
  const times: number[] = [];
  for (let i = 0; i < TIMED_RUNS; i++) {
    const start = performance.now();
    await session.run(probe.feeds, [probe.output]);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { output, ms: times[Math.floor(times.length / 2)] };
}

// Decisions persist per page origin, so a second visit skips the probe.
const STORAGE_PREFIX = 'edgehead.device:';

function readStoredDecision(key: string): ConcreteDevice | undefined {
  try {
    const value = globalThis.localStorage?.getItem(STORAGE_PREFIX + key);
    return value === 'webgpu' || value === 'wasm' ? value : undefined;
  } catch {
    return undefined; // storage disabled (private mode, sandboxed frame)
  }
}

function storeDecision(key: string, device: ConcreteDevice): void {
  try {
    globalThis.localStorage?.setItem(STORAGE_PREFIX + key, device);
  } catch {
    // Not persisting only costs a probe next time.
  }
}
