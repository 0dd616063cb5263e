/**
 * edgehead — frozen backbones to embeddings, in browsers, Node and Workers. This entry uses
 * Web APIs only; `edgehead/node` adds file-system loading, image decoding and onnxruntime-node.
 * @module
 */
export * from './core/errors.js';
export { cosineSimilarity, l2NormalizeInPlace, dot, norm, euclideanDistance, argmax } from './core/vector.js';
export { sha256Hex } from './core/hash.js';
export type { Backbone, BackboneOptions, EmbedOptions } from './backbone/backbone.js';
export {
  createBackbone,
  type AnyBackbone,
  type ImageBackbone,
  type TextBackbone,
  type AudioBackbone,
  type BackboneFor,
  type CreateBackboneOptions,
} from './backbone/create.js';
export { PROBE_MIN_COSINE, type DeviceReport, type DeviceCandidate } from './backbone/onnx/choose-device.js';
export { OnnxImageBackbone } from './backbone/onnx/image-backbone.js';
export { OnnxTextBackbone } from './backbone/onnx/text-backbone.js';
export { UseBackbone } from './backbone/tfjs/use-backbone.js';
export { OpenWakeWordBackbone } from './backbone/audio/openwakeword-backbone.js';
export { blockOutputs, cutModel, summarizeModel, type CutOptions, type CutResult, type GraphSummary } from './backbone/onnx/graph.js';
export { loadRuntime, type OnnxDevice, type OnnxRuntimeOptions, type OnnxRuntimeModule } from './backbone/onnx/runtime.js';
export { workersOnnxRuntime } from './backbone/compiled-wasm.js';
export { pool, POOLINGS, type Pooling } from './backbone/pooling.js';
export { preprocessImage, imagesToTensor, decodeSizeFor, type DecodedImage, type ImageSpec } from './inputs/image/image.js';
export { decodeBrowserImage, type BrowserImageSource } from './inputs/image/decode-browser.js';
export { createHfTokenizer, createUseTokenizer, padBatch, type TextTokenizer } from './inputs/text/tokenizer.js';
export { resample, type AudioClip } from './inputs/audio/audio.js';
export { decodeWav } from './inputs/audio/wav.js';
export { parseManifest, type Manifest, type Modality, type License, type ImageManifest, type TextOnnxManifest, type UseManifest, type OpenWakeWordManifest, type FileSource, type ManifestFile } from './manifest/manifest.js';
export { fetchModelFiles, fetchVerified, verifyBytes, type ModelFiles } from './manifest/files.js';
export type { Head, HeadKind, Prediction, PredictOptions, OpenSetGate, ScoredLabel } from './heads/head.js';
export { LinearHead, type LinearOptions } from './heads/linear.js';
export { KnnHead, type KnnOptions, type KnnMetric, type Neighbour } from './heads/knn.js';
export { useSimilarityKernel } from './heads/similarity.js';
export { CentroidHead, DEFAULT_PRIOR_WEIGHT, type CentroidOptions, type LabelPrior } from './heads/centroid.js';
export { fitHead, fitSpec, crossValidate, describeSpec, type FitOptions, type FitReport, type HeadSpec, type AnyHead } from './heads/fit.js';
export { detectShift, detectShiftByClass, type ClassShift, type ShiftOptions, type ShiftResult } from './heads/shift.js';
export { logME, type LogMEResult } from './heads/transferability.js';
export { rankEmbeddings, type RankCandidate, type RankedCandidate, type RankOptions, type RankResult } from './heads/rank.js';
export { PixelBaseline, BagOfWordsBaseline, SpectrogramBaseline, createBaseline } from './backbone/baselines.js';
export { coralAlign, type CoralAlignment, type CoralOptions } from './heads/coral.js';
export { evaluate, type Evaluation, type ClassMetrics } from './heads/metrics.js';
export { stratifiedSplit, stratifiedKFold, sampleFewShot } from './heads/split.js';
export { toMatrix, type Matrix, type EmbeddingsInput } from './heads/matrix.js';
export {
  parseHead,
  serializeHead,
  headToJson,
  assertFingerprint,
  HEAD_FORMAT,
  HEAD_FORMAT_VERSION,
  type HeadFile,
  type LoadedHead,
  type BackboneRef,
  type TrainingSummary,
} from './heads/format.js';
export { createOnnxObjective, objectiveGraph } from './accel/onnx-objective.js';
export { createOnnxNeighbourSearch } from './accel/onnx-knn.js';
export type { NeighbourSearch } from './heads/knn.js';
export type { ObjectiveFactory } from './heads/linear.js';
export { EdgeClient, EdgeApiError, encodeEmbeddings, type EdgeClientOptions, type ClassifyResult, type ClassifyOptions, type HeadVersionInfo, type HeadList, type HeadDetails, type DriftReport, type EdgeApiBody, type BackboneList, type BackboneFileInfo, type ClassifyInput, type EncodedImage } from './client/edge-client.js';
export type { paths as EdgeApiPaths, components as EdgeApiComponents } from './client/api-types.js';
