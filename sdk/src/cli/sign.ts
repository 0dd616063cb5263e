/** `edgehead sign head.json`: re-checksums a head file after an intentional hand edit. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { NotFoundError } from '../core/errors.js';
import { contentChecksum, parseHead, type HeadFile } from '../heads/format.js';
import { out, UsageError } from './io.js';
import { writeAtomically } from './outputs.js';

export const signHelp = `edgehead sign head.json [--json]
  After editing a head file by hand on purpose (renaming a label, say), record its new content
  checksum; without it every runtime refuses the edited file.`;

export async function signCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const [path] = positionals;
  if (!path || positionals.length > 1) throw new UsageError('sign needs exactly one head file.');
  const text = await readFile(path, 'utf8').catch((cause: unknown) => {
    throw new NotFoundError(`Cannot read head file ${path}.`, { cause });
  });
  // Everything but the checksum must still be a valid head.
  parseHead(text, { verifyChecksum: false });
  const file = JSON.parse(text) as HeadFile;
  const before = file.checksum ?? null;
  const { checksum: _old, ...content } = file;
  const checksum = contentChecksum(content);
  await writeAtomically(path, JSON.stringify({ ...content, checksum }));
  if (values.json) out(JSON.stringify({ file: path, before, checksum }));
  else out(`${path}: checksum ${before ?? '(none)'} → ${checksum}`);
  return 0;
}
