/** Reads an input file (Node), turning file-system failures into an UnreadableInputError naming it. */
import { readFile } from 'node:fs/promises';
import { UnreadableInputError } from '../core/errors.js';

export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new UnreadableInputError(path, `cannot read the file (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  }
}
