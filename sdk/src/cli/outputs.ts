/**
 * Output files of `fit`, checked before any work and written without ever losing data: never
 * over an input (the training file, a photo in a class folder), never both outputs to one path,
 * never over an existing file that is not one of ours unless --force; written through a temporary
 * file that is removed on failure and on Ctrl-C.
 */
import { constants, existsSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { access, open, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { HEAD_FORMAT } from '../heads/format.js';
import { UsageError } from './io.js';

/** An absolute path with symlinks of its existing part resolved, so aliases compare equal. */
function canonical(path: string): string {
  const full = resolve(path);
  if (existsSync(full)) return realpathSync(full);
  const parent = dirname(full);
  return join(existsSync(parent) ? realpathSync(parent) : parent, basename(full));
}

/** Inside one of `folder`'s sub-folders (where class folders keep their examples); files at its top level are not examples. */
function isInsideSubfolder(child: string, folder: string): boolean {
  const rel = relative(folder, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && rel.includes('/');
}

/** What an existing file is, by its first bytes: our head JSON, our HTML report, or something else. */
async function ownedKind(path: string): Promise<'head' | 'report' | 'other'> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    const start = buffer.subarray(0, bytesRead).toString('utf8');
    if (start.trimStart().startsWith('{') && new RegExp(`"format"\\s*:\\s*"${HEAD_FORMAT}"`).test(start)) return 'head';
    if (/^<!doctype html>/i.test(start) && start.includes('edgehead')) return 'report';
    return 'other';
  } finally {
    await handle.close();
  }
}

export interface OutputCheck {
  /** The training data (a file or a folder). */
  data: string;
  outputs: Array<{ flag: string; path: string; kind: 'head' | 'report' }>;
  force?: boolean;
}

export async function checkOutputs({ data, outputs, force }: OutputCheck): Promise<void> {
  const input = canonical(data);
  const inputIsFolder = existsSync(input) && statSync(input).isDirectory();
  const seen = new Map<string, string>();
  for (const { flag, path, kind } of outputs) {
    const target = canonical(path);
    if (target === input) throw new UsageError(`--${flag} ${path} is the training data itself; writing there would destroy it. Choose another path.`);
    if (inputIsFolder && isInsideSubfolder(target, input)) throw new UsageError(`--${flag} ${path} is inside a class folder of ${data}; it would become (or replace) a training example. Write it elsewhere.`);
    const other = seen.get(target);
    if (other) throw new UsageError(`--${flag} and --${other} both point at ${path}; one would overwrite the other.`);
    seen.set(target, flag);
    const parent = dirname(target);
    if (!existsSync(parent)) throw new UsageError(`--${flag} ${path}: the folder ${parent} does not exist.`);
    if (existsSync(target)) {
      if (statSync(target).isDirectory()) throw new UsageError(`--${flag} ${path} is a folder; give a file name (e.g. ${join(path, kind === 'head' ? 'head.json' : 'report.html')}).`);
      const found = await ownedKind(target);
      if (found !== kind && !force) {
        throw new UsageError(`--${flag} ${path} exists and is not an edgehead ${kind === 'head' ? 'head file' : 'report'}; refusing to overwrite it (pass --force to replace it).`);
      }
      await access(target, constants.W_OK).catch(() => {
        throw new UsageError(`--${flag} ${path} exists and is not writable.`);
      });
    }
    await access(parent, constants.W_OK).catch(() => {
      throw new UsageError(`--${flag} ${path}: the folder ${parent} is not writable.`);
    });
  }
}

const pendingTemps = new Set<string>();
let interruptHandler: (() => void) | undefined;

/** Removes temporary files still being written when the process is interrupted, then exits. */
function cleanUpOnInterrupt(): void {
  if (interruptHandler) return;
  interruptHandler = () => {
    for (const tmp of pendingTemps) {
      try {
        unlinkSync(tmp);
      } catch {
        // already renamed or removed
      }
    }
    process.exit(130);
  };
  process.once('SIGINT', interruptHandler);
  process.once('SIGTERM', interruptHandler);
}

/** Write then rename: an interrupted or failed write never leaves a half-written file or a temp file. */
export async function writeAtomically(path: string, text: string | Uint8Array): Promise<void> {
  cleanUpOnInterrupt();
  const tmp = `${path}.${process.pid}.tmp`;
  pendingTemps.add(tmp);
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (cause) {
    await unlink(tmp).catch(() => undefined);
    throw cause;
  } finally {
    pendingTemps.delete(tmp);
  }
}
