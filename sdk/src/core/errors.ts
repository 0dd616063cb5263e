/**
 * One error type for the whole SDK: a stable `code` callers (and the worker) branch on, and a
 * message that says what was wrong and what to do next.
 * @module
 */

export type EdgeheadErrorCode =
  | 'INVALID_INPUT'
  | 'UNREADABLE_INPUT'
  | 'SHAPE_MISMATCH'
  | 'MODEL_MISMATCH'
  | 'TENSOR_NOT_FOUND'
  | 'INTEGRITY'
  | 'NOT_FOUND'
  | 'BACKEND_UNAVAILABLE'
  | 'INVALID_MANIFEST'
  | 'TRUNCATED'
  | 'INVALID_HEAD'
  | 'UNSUPPORTED_VERSION'
  | 'BACKBONE_MISMATCH'
  | 'RUNTIME';

export class EdgeheadError extends Error {
  readonly code: EdgeheadErrorCode;
  constructor(code: EdgeheadErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // From the code, not `new.target.name`: minifiers rename classes, and users log `name`.
    this.name = ERROR_NAMES[code];
  }
}

const ERROR_NAMES: Record<EdgeheadErrorCode, string> = {
  INVALID_INPUT: 'InvalidInputError',
  UNREADABLE_INPUT: 'UnreadableInputError',
  SHAPE_MISMATCH: 'EdgeheadError',
  MODEL_MISMATCH: 'ModelMismatchError',
  TENSOR_NOT_FOUND: 'TensorNotFoundError',
  INTEGRITY: 'IntegrityError',
  NOT_FOUND: 'NotFoundError',
  BACKEND_UNAVAILABLE: 'BackendUnavailableError',
  INVALID_MANIFEST: 'InvalidManifestError',
  TRUNCATED: 'HeadFormatError',
  INVALID_HEAD: 'HeadFormatError',
  UNSUPPORTED_VERSION: 'HeadFormatError',
  BACKBONE_MISMATCH: 'BackboneMismatchError',
  RUNTIME: 'RuntimeFailureError',
};

/** The input could not be turned into a model input (bad shape, wrong type, empty batch…). */
export class InvalidInputError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, options);
  }
}

/** An image or audio file that could not be decoded. */
export class UnreadableInputError extends EdgeheadError {
  readonly source: string;
  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super('UNREADABLE_INPUT', `${source}: ${message}`, options);
    this.source = source;
  }
}

/** The model's inputs or outputs do not match what its manifest declares. */
export class ModelMismatchError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_MISMATCH', message, options);
  }
}

/** A cut/output tensor name that does not exist in the graph; `suggestions` are the nearest names. */
export class TensorNotFoundError extends EdgeheadError {
  readonly tensor: string;
  readonly suggestions: string[];
  constructor(tensor: string, suggestions: string[]) {
    super(
      'TENSOR_NOT_FOUND',
      `Tensor "${tensor}" does not exist in the model graph. ` +
        (suggestions.length ? `Nearby names: ${suggestions.map((s) => `"${s}"`).join(', ')}. ` : '') +
        'Run `edgehead models info <model>` to list every tensor name.',
    );
    this.tensor = tensor;
    this.suggestions = suggestions;
  }
}

/** A downloaded or local file whose sha256 does not match the manifest. Never run such a file. */
export class IntegrityError extends EdgeheadError {
  constructor(file: string, expected: string, actual: string) {
    super(
      'INTEGRITY',
      `Integrity check failed for ${file}: expected sha256 ${expected}, got ${actual}. ` +
        'The file is corrupt, truncated or a different model; delete it (or the cache entry) and fetch it again, ' +
        'or point the manifest override at the right file.',
    );
  }
}

/** A runtime (onnxruntime-node, WebGPU, tfjs wasm…) that is not available here. */
export class BackendUnavailableError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND_UNAVAILABLE', message, options);
  }
}

export class InvalidManifestError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_MANIFEST', message, options);
  }
}

export class NotFoundError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', message, options);
  }
}

/** Wraps an unexpected failure of a model runtime with what was being done at the time. */
export class RuntimeFailureError extends EdgeheadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RUNTIME', message, options);
  }
}

/** A head file that cannot be used: malformed, truncated, wrong version or dimension, NaN/Inf. */
export class HeadFormatError extends EdgeheadError {
  constructor(code: 'INVALID_HEAD' | 'TRUNCATED' | 'UNSUPPORTED_VERSION', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Embeddings from another backbone than the one a head was trained on. */
export class BackboneMismatchError extends EdgeheadError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, headBackbone?: string) {
    super(
      'BACKBONE_MISMATCH',
      `This head was trained on embeddings with fingerprint ${expected}${headBackbone ? ` (backbone "${headBackbone}")` : ''}, ` +
        `but the embeddings come from fingerprint ${actual}. Embed with the head's backbone, or re-fit the head on this backbone.`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** Levenshtein-ranked suggestions, for "did you mean" lists in error messages. */
export function nearestNames(target: string, candidates: Iterable<string>, count = 5): string[] {
  const scored: Array<[string, number]> = [];
  const t = target.toLowerCase();
  for (const c of candidates) {
    const lc = c.toLowerCase();
    const bonus = lc.includes(t) || t.includes(lc) ? -3 : 0;
    scored.push([c, editDistance(t, lc) + bonus]);
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return scored.slice(0, count).map(([c]) => c);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
