/**
 * The same few lines run in Chromium (as a page script) and in workerd (as a Worker): parse a
 * head file and predict. Only the heads code is bundled (with the kNN search kernel), no model runtime.
 */
import { parseHead } from '../../src/heads/format.js';
import { KnnHead } from '../../src/heads/knn.js';

export interface PredictRequest {
  head: string;
  embeddings: number[][];
}

export function predictFromFile(req: PredictRequest) {
  const { head } = parseHead(req.head);
  const predictions = head.predict(req.embeddings, { topK: head.labels.length, rejectUnknown: false });
  // kNN: whether the search ran on the WebAssembly kernel here (a Worker compiles none from bytes).
  const kernel = head instanceof KnnHead ? head.searchesInWebAssembly : undefined;
  return predictions.map((p) => ({ label: p.label, probabilities: Object.fromEntries(p.topK.map((t) => [t.label, t.probability])), distance: p.distance, kernel }));
}

(globalThis as { edgeheadPredict?: typeof predictFromFile }).edgeheadPredict = predictFromFile;

export default {
  async fetch(request: Request): Promise<Response> {
    return Response.json(predictFromFile((await request.json()) as PredictRequest));
  },
};
