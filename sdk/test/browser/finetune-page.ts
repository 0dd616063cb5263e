/**
 * Runs inside Chromium: fine-tuning's TF.js side (translateTop, fineTune) on tfjs-backend-wasm
 * in a browser, on activations computed in Node. The test page calls window.edgeheadFineTune().
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { fineTune, loadTrainingTf, translateTop } from '../../src/finetune/index.js';

interface FineTuneRequest {
  modelUrl: string;
  from: string;
  to: string;
  dims: number[];
  activations: number[];
  labels: string[];
  /** How many leading rows to run through the untrained top, for the equality check. */
  probeRows: number;
  epochs: number;
}

async function edgeheadFineTune(req: FineTuneRequest) {
  try {
    setWasmPaths('/tfjs/');
    const tf = await loadTrainingTf();
    const model = new Uint8Array(await (await fetch(req.modelUrl)).arrayBuffer());
    const top = translateTop(tf, model, { from: req.from, to: req.to });
    const per = req.dims.slice(1).reduce((a, b) => a * b, 1);
    const data = Float32Array.from(req.activations);
    const probe = tf.tidy(() => top.apply(tf.tensor(data.subarray(0, req.probeRows * per), [req.probeRows, ...req.dims.slice(1)])));
    const untrained = Array.from((await probe.data()) as Float32Array);
    probe.dispose();
    const result = await fineTune(tf, top, { data, dims: req.dims }, req.labels, { epochs: req.epochs, seed: 0 });
    top.dispose();
    return { backend: tf.getBackend(), untrained, history: result.history, bestEpoch: result.bestEpoch };
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

(globalThis as unknown as { edgeheadFineTune: typeof edgeheadFineTune }).edgeheadFineTune = edgeheadFineTune;
