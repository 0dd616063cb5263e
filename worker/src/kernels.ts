/**
 * The SIMD kernel kNN search runs on (edgehead's similarity.wasm), compiled by the bundler: a
 * Worker may not compile WebAssembly from bytes, so without this the heads would search in
 * plain JavaScript, with the same results about 7× slower. Imported for this effect by every
 * module that searches kNN heads (the isolates' snapshots and the Durable Object).
 * @module
 */
import similarityWasm from 'edgehead/wasm/similarity.wasm';
import { useSimilarityKernel } from 'edgehead/heads';

useSimilarityKernel(similarityWasm);
