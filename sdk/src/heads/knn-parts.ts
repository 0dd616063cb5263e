/**
 * A kNN head file too large for one request to the edge API, as a smaller head file plus the
 * rest of its references, to be added to that version as online examples. The version then
 * holds every reference and classifies as the whole file does.
 * @module
 */
import { InvalidInputError } from '../core/errors.js';
import { contentChecksum, encodeTensor, parseHead, type HeadFile } from './format.js';
import { KnnHead } from './knn.js';

export interface KnnParts {
  /** A head file (JSON) with the first references, at most `maxBytes` bytes of UTF-8. */
  base: string;
  /** The remaining references and their labels, in order. */
  rest: { embeddings: Float32Array[]; labels: string[] };
}

const utf8Bytes = (text: string) => new TextEncoder().encode(text).byteLength;

/** Longest label an online example may have, where a deployment does not say (`limits.maxLabelLength`). */
export const DEFAULT_ONLINE_LABEL_MAX = 200;

/**
 * Splits a kNN head file so that its first part fits in `maxBytes`. The first part keeps one
 * reference of every class first (so the version's labels are all there from the start), then
 * the others in file order, and everything else the file says: config, open-set gate, training
 * notes, backbone. Other kinds of head are refused: they have no examples to send apart.
 */
export function splitKnnHead(input: string | HeadFile, maxBytes: number, maxLabelLength = DEFAULT_ONLINE_LABEL_MAX): KnnParts {
  const file = (typeof input === 'string' ? JSON.parse(input) : input) as HeadFile;
  const { head } = parseHead(file);
  if (!(head instanceof KnnHead)) {
    throw new InvalidInputError(
      `This ${head.kind} head file is larger than the deployment accepts in one request (${maxBytes} bytes); only kNN heads can be sent in parts. Raise MAX_BODY_BYTES on the worker.`,
    );
  }
  const { references, referenceLabels, ids } = head.parameters;
  const n = referenceLabels.length;
  const d = head.dim;
  const seen = new Set<number>();
  const firsts: number[] = [];
  const others: number[] = [];
  for (let r = 0; r < n; r++) {
    if (seen.has(referenceLabels[r])) others.push(r);
    else {
      seen.add(referenceLabels[r]);
      firsts.push(r);
    }
  }
  // Online examples take labels of at most maxLabelLength characters (the worker's limit);
  // rows with longer labels must all be in the first part, so they go right after the firsts.
  const long = others.filter((r) => head.labels[referenceLabels[r]].length > maxLabelLength);
  const order = [...firsts, ...long, ...others.filter((r) => head.labels[referenceLabels[r]].length <= maxLabelLength)];
  const fileWith = (count: number): string => {
    const rows = order.slice(0, count);
    const refs = new Float32Array(count * d);
    rows.forEach((r, i) => refs.set(references.subarray(r * d, (r + 1) * d), i * d));
    const { checksum: _old, ...rest } = file;
    const content = {
      ...rest,
      params: {
        references: encodeTensor(refs, [count, d]),
        referenceLabels: encodeTensor(rows.map((r) => referenceLabels[r]), [count], 'int32'),
        ids: encodeTensor(rows.map((r) => ids[r]), [count], 'int32'),
      },
    };
    return JSON.stringify({ ...content, checksum: contentChecksum(content) });
  };
  // Each reference adds its float32 row, its label index and its id, as base64 (4/3 bytes a
  // byte): the largest count that fits, then checked (base64 padding makes it inexact).
  const small = utf8Bytes(fileWith(firsts.length));
  if (small > maxBytes) {
    throw new InvalidInputError(
      `Even one reference per class makes a ${small}-byte head file, over the deployment's ${maxBytes}-byte request limit; raise MAX_BODY_BYTES on the worker.`,
    );
  }
  const perRow = ((4 * d + 8) * 4) / 3;
  let count = Math.min(n, firsts.length + Math.floor((maxBytes - small) / perRow));
  let base = fileWith(count);
  while (utf8Bytes(base) > maxBytes) {
    count = Math.max(firsts.length, Math.floor(count * 0.95));
    base = fileWith(count);
  }
  if (count < firsts.length + long.length) {
    throw new InvalidInputError(
      `${long.length} references have labels over ${maxLabelLength} characters, which online examples refuse, and they do not all fit in one ${maxBytes}-byte request; shorten the labels or raise MAX_BODY_BYTES.`,
    );
  }
  const restRows = order.slice(count);
  return {
    base,
    rest: {
      embeddings: restRows.map((r) => references.slice(r * d, (r + 1) * d)),
      labels: restRows.map((r) => head.labels[referenceLabels[r]]),
    },
  };
}
