/** Opens a head file and the backbone it was trained on, refusing a fingerprint mismatch. */
import { readFile } from 'node:fs/promises';
import { NotFoundError, InvalidInputError } from '../core/errors.js';
import { assertFingerprint, parseHead, type LoadedHead } from '../heads/format.js';
import { loadBackbone } from '../node.js';
import { warn } from './io.js';

export async function openHead(path: string, backboneOverride?: string) {
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
