/** Opens a head file and the backbone it was trained on, refusing a fingerprint mismatch. */
import { readFile, stat } from 'node:fs/promises';
import { NotFoundError, InvalidInputError } from '../core/errors.js';
import { assertFingerprint, parseHead, type LoadedHead } from '../heads/format.js';
import { loadBackbone } from '../node.js';
import { warn } from './io.js';

/** Largest head file the CLI reads. */
export const MAX_HEAD_FILE_BYTES = 256 * 2 ** 20;

export async function openHead(path: string, backboneOverride?: string) {
  const size = await stat(path).then((s) => s.size, (cause: unknown) => {
    throw new NotFoundError(`Cannot read head file ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  });
  // JavaScript strings top out near 512 MB; refuse early and say why instead of failing to read.
  if (size > MAX_HEAD_FILE_BYTES) {
    throw new InvalidInputError(`${path} is ${(size / 2 ** 20).toFixed(0)} MB; head files over ${MAX_HEAD_FILE_BYTES / 2 ** 20} MB are refused. A kNN head this large needs fewer stored examples (or a centroid/linear head).`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new NotFoundError(`Cannot read head file ${path}.`, { cause });
  }
  const loaded: LoadedHead = parseHead(text);
  const backboneId = backboneOverride ?? loaded.backbone?.id;
  if (!backboneId) throw new InvalidInputError(`${path} does not name its backbone; pass --backbone.`);
  const { backbone, manifest } = await loadBackbone(backboneId);
  // Once, on stderr: which runtime embeds (WASM is ~20x slower than onnxruntime-node in Node).
  warn(`backbone ${manifest.id} on ${backbone.device}`);
  try {
    assertFingerprint(loaded.backbone, backbone.fingerprint);
  } catch (e) {
    await backbone.dispose();
    throw e;
  }
  return { ...loaded, backbone, manifest };
}
