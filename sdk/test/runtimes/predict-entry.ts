/**
 * The same few lines run in Chromium (as a page script) and in workerd (as a Worker): parse a
 * head file and predict. Only the heads code is bundled — no wasm, no model runtime.
 */
import { parseHead } from '../../src/heads/format.js';

export interface PredictRequest {
  head: string;
  embeddings: number[][];
}

export function predictFromFile(req: PredictRequest) {
  const { head } = parseHead(req.head);
  const predictions = head.predict(req.embeddings, { topK: head.labels.length, rejectUnknown: false });
  return predictions.map((p) => ({ label: p.label, probabilities: Object.fromEntries(p.topK.map((t) => [t.label, t.probability])) }));
}

(globalThis as { edgeheadPredict?: typeof predictFromFile }).edgeheadPredict = predictFromFile;

export default {
  async fetch(request: Request): Promise<Response> {
    return Response.json(predictFromFile((await request.json()) as PredictRequest));
  },
};
