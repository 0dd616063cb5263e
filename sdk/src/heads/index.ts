/**
 * The heads alone — fitting, predicting, metrics and the portable file format — with no model
 * runtime: what a Cloudflare Worker imports (`edgehead/heads`). kNN search uses a small SIMD
 * kernel where WebAssembly may be compiled, and one given by `useSimilarityKernel` in Workers.
 * @module
 */
export * from './head.js';
export { LinearHead, type LinearOptions, type ObjectiveFactory } from './linear.js';
export { KnnHead, type KnnOptions, type KnnMetric, type Neighbour, type NeighbourSearch } from './knn.js';
export { useSimilarityKernel } from './similarity.js';
export { CentroidHead, DEFAULT_PRIOR_WEIGHT, type CentroidOptions, type LabelPrior } from './centroid.js';
export { fitHead, fitSpec, crossValidate, describeSpec, type FitOptions, type FitReport, type HeadSpec, type AnyHead } from './fit.js';
export { detectShift, detectShiftByClass, type ClassShift, type ShiftOptions, type ShiftResult } from './shift.js';
export { coralAlign, type CoralAlignment, type CoralOptions } from './coral.js';
export { evaluate, type Evaluation, type ClassMetrics } from './metrics.js';
export { stratifiedSplit, stratifiedKFold, sampleFewShot } from './split.js';
export { toMatrix, type Matrix, type EmbeddingsInput } from './matrix.js';
export * from './format.js';
export { EdgeheadError, BackboneMismatchError, HeadFormatError, InvalidInputError, NotFoundError, type EdgeheadErrorCode } from '../core/errors.js';
