/**
 * Reads an input file (Node), turning file-system failures into an UnreadableInputError naming
 * it. Only regular files are read: a named pipe or a device (`/dev/zero` linked as `x.jpg`) would
 * hang or grow without end.
 * @module
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { UnreadableInputError } from '../core/errors.js';

/** Larger inputs are refused before reading (a photo or a clip is far smaller). */
export const MAX_INPUT_BYTES = 512 * 1024 * 1024;

export async function readInputFile(path: string, maxBytes = MAX_INPUT_BYTES): Promise<Uint8Array> {
  let handle;
  try {
    // Non-blocking, so opening a named pipe returns at once instead of waiting for a writer.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw new UnreadableInputError(path, `cannot read the file (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new UnreadableInputError(path, 'not a regular file (a folder, pipe or device); give the path of an image or audio file.');
    if (info.size > maxBytes) throw new UnreadableInputError(path, `the file is ${info.size} bytes; inputs over ${maxBytes} bytes are refused.`);
    return await handle.readFile();
  } catch (cause) {
    if (cause instanceof UnreadableInputError) throw cause;
    throw new UnreadableInputError(path, `cannot read the file (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  } finally {
    await handle.close();
  }
}
