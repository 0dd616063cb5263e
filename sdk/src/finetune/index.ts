// tfjs-core's declarations use the global `Long` of @types/long without referencing it: a project
// whose tsconfig lists its `types` (and checks libraries) would not see it otherwise.
/// <reference types="long" preserve="true" />
/**
 * `edgehead/finetune`: fine-tune the top of an ONNX image backbone from code, as `edgehead
 * finetune` does. Cut the model (`cutModel`, `blockOutputs` from `edgehead`), run the frozen part
 * once per input in onnxruntime, translate the top to TF.js (`translateTop`), train it with a new
 * head (`fineTune`), and write it back as ONNX (`top.exportOnnx()`). Gradients need the
 * optional peer dependency `@tensorflow/tfjs` (`loadTrainingTf`).
 * @module
 */
export { loadTrainingTf, translateTop, SUPPORTED_OPS, type TfjsTop } from './onnx-to-tfjs.js';
export { fineTune, type FineTuneOptions, type FineTuneResult, type EpochReport } from './train.js';
