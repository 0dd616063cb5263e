/**
 * Reads a labelled dataset for `fit`/`eval`: a folder with one sub-folder per class (images or
 * WAV audio), or a text file (`label<TAB>text`, `label text`, CSV with a header, JSONL).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import type { Modality } from '../manifest/manifest.js';
import { sampleFewShot } from '../heads/split.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);
export const AUDIO_EXTENSIONS = new Set(['.wav']);

export interface LabelledInputs {
  modality: Modality;
  /** File paths (image/audio) or texts. */
  items: string[];
  labels: string[];
  /** Files ignored because their extension is not an image or audio type. */
  ignored: string[];
  /** Folder datasets: each file's first sub-folder under its class folder (undefined: none). */
  folders?: Array<string | undefined>;
  /** CSV/JSONL: every column (lower-case names) of each row, as strings. */
  fields?: Array<Record<string, string>>;
}

export interface TextDataOptions {
  /** CSV/JSONL column (key) holding the text. Default "text". */
  textColumn?: string;
  /** CSV/JSONL column (key) holding the label. Default "label". */
  labelColumn?: string;
  /** Text files must be UTF-8 (a BOM is fine; UTF-16 with a BOM is decoded); 'latin1' reads ISO-8859-1. */
  encoding?: 'utf8' | 'latin1';
  /** Told when a header line is detected and skipped. */
  onNote?: (message: string) => void;
}

export async function readLabelledData(path: string, options: TextDataOptions = {}): Promise<LabelledInputs> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new InvalidInputError(`Data path ${path} does not exist. Pass a folder with one sub-folder per class, or a labelled text file.`);
  }
  return info.isDirectory() ? readClassFolders(path) : readTextFile(path, options);
}

/**
 * Bytes → text without silent corruption: a UTF-8 or UTF-16 BOM decides, else strict UTF-8 (an
 * invalid byte is an error naming the line, never a U+FFFD inside a label), or Latin-1 on request.
 */
export function decodeTextFile(bytes: Uint8Array, path: string, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  if (encoding === 'latin1') return new TextDecoder('latin1').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new InvalidInputError(
      `${path}:${line}: not valid UTF-8. Save the file as UTF-8, or read it as Latin-1 (ISO-8859-1) with --encoding latin1.`,
    );
  }
}

/** Names a first line of `label<TAB>text` files often has instead of a label. */
const HEADER_LABELS = new Set(['label', 'labels', 'class', 'category', 'intent', 'target', 'tag', 'y']);

async function readClassFolders(root: string): Promise<LabelledInputs> {
  const all = await readdir(root, { withFileTypes: true });
  // Class folders may be symlinks to folders elsewhere (datasets are often linked, not copied).
  const isDir = async (dir: string, e: (typeof all)[number]) =>
    e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).then((s) => s.isDirectory(), () => false)));
  const entries = [];
  for (const e of all) if (!e.name.startsWith('.') && (await isDir(root, e))) entries.push(e);
  if (entries.length === 0) throw new InvalidInputError(`${root} has no class sub-folders. Put each class's files in ${root}/<class name>/.`);
  const items: string[] = [];
  const labels: string[] = [];
  const folders: Array<string | undefined> = [];
  const ignored: string[] = [];
  const kinds = new Set<Modality>();
  const empty: string[] = [];
  // Files of a class folder and of its sub-folders (any depth); `folder` is the first sub-folder
  // level (photos/<class>/<group>/…), the grouping that --group-by folder uses.
  const walk = async (dir: string, label: string, folder: string | undefined): Promise<number> => {
    let used = 0;
    const list = (await readdir(dir, { withFileTypes: true })).filter((f) => !f.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name));
    for (const f of list) {
      const p = join(dir, f.name);
      if (await isDir(dir, f)) {
        used += await walk(p, label, folder ?? f.name);
        continue;
      }
      if (!f.isFile() && !f.isSymbolicLink()) continue;
      const ext = extname(f.name).toLowerCase();
      const kind: Modality | undefined = IMAGE_EXTENSIONS.has(ext) ? 'image' : AUDIO_EXTENSIONS.has(ext) ? 'audio' : undefined;
      if (!kind) {
        ignored.push(p);
        continue;
      }
      kinds.add(kind);
      items.push(p);
      labels.push(label);
      folders.push(folder);
      used++;
    }
    return used;
  };
  for (const dir of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if ((await walk(join(root, dir.name), dir.name, undefined)) === 0) empty.push(dir.name);
  }
  if (empty.length) {
    throw new InvalidInputError(`Class folder(s) ${empty.map((e) => `"${e}"`).join(', ')} contain no image or WAV files. Add examples or remove the folder.`);
  }
  if (kinds.size > 1) {
    throw new InvalidInputError(`${root} mixes images and audio; a head is trained on one modality. Split them into separate datasets.`);
  }
  return { modality: [...kinds][0], items, labels, ignored, folders };
}

/**
 * Groups for grouped cross-validation, from `--group-by`:
 * - `folder`: the first sub-folder level under each class folder (`photos/<class>/<group>/…`);
 *   files directly in a class folder are each their own group;
 * - `column:<name>`: a CSV column or JSONL field;
 * - anything else is a regular expression matched against the file name (or the text): its
 *   first capture group (or the whole match) is the group, e.g. `^[^_]+_([^_]+)_` for
 *   `<digit>_<speaker>_<n>.wav`.
 * Returns the group of each item and a description for reports.
 */
export function resolveGroups(data: LabelledInputs, spec: string): { groups: string[]; description: string } {
  if (spec === 'folder') {
    if (!data.folders) throw new InvalidInputError('--group-by folder needs a folder dataset (<class>/<group>/files).');
    if (data.folders.every((f) => f === undefined)) {
      throw new InvalidInputError('--group-by folder: no class folder has sub-folders. Put each group\'s files in <class>/<group>/, or use a file-name pattern.');
    }
    return { groups: data.items.map((item, i) => (data.folders![i] !== undefined ? `folder:${data.folders![i]}` : `file:${item}`)), description: 'sub-folder' };
  }
  if (spec.startsWith('column:')) {
    const name = spec.slice('column:'.length).trim().toLowerCase();
    if (!data.fields) throw new InvalidInputError(`--group-by ${spec} needs a CSV or JSONL file with a "${name}" column.`);
    const groups = data.fields.map((f, i) => {
      const v = f[name];
      if (v === undefined || v === '') throw new InvalidInputError(`Row ${i + 1} has no "${name}" value for --group-by ${spec}.`);
      return v;
    });
    return { groups, description: `column "${name}"` };
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(spec);
  } catch (cause) {
    throw new InvalidInputError(`--group-by "${spec}" is not folder, column:<name> or a valid regular expression.`, { cause });
  }
  const missed: string[] = [];
  const groups = data.items.map((item) => {
    const name = data.modality === 'text' ? item : basename(item);
    const m = pattern.exec(name);
    if (!m) {
      missed.push(name);
      return '';
    }
    return m[1] ?? m[0];
  });
  if (missed.length) {
    throw new InvalidInputError(`${missed.length} of ${data.items.length} item(s) do not match --group-by /${spec}/ (e.g. "${missed[0].slice(0, 80)}"); every item needs a group.`);
  }
  return { groups, description: `pattern /${spec}/` };
}

/** RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new InvalidInputError('CSV ends inside a quoted field; check for an unbalanced quote.');
  row.push(field);
  if (row.some((f) => f !== '')) rows.push(row);
  return rows;
}

async function readTextFile(path: string, options: TextDataOptions): Promise<LabelledInputs> {
  const text = decodeTextFile(await readFile(path), path, options.encoding);
  const textKey = (options.textColumn ?? 'text').toLowerCase();
  const labelKey = (options.labelColumn ?? 'label').toLowerCase();
  const ext = extname(path).toLowerCase();
  const items: string[] = [];
  const labels: string[] = [];
  const fields: Array<Record<string, string>> = [];
  const add = (label: unknown, item: unknown, where: string) => {
    if (typeof label !== 'string' && typeof label !== 'number') throw new InvalidInputError(`${where}: missing label.`);
    if (typeof item !== 'string' || !item.trim()) throw new InvalidInputError(`${where}: missing text.`);
    const l = String(label).trim();
    if (!l) throw new InvalidInputError(`${where}: empty label.`);
    labels.push(l);
    items.push(item);
  };
  if (ext === '.jsonl' || ext === '.ndjson') {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new InvalidInputError(`${path}:${i + 1}: not valid JSON. Each line must be {"${textKey}": …, "${labelKey}": …}.`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new InvalidInputError(`${path}:${i + 1}: expected a JSON object like {"${textKey}": …, "${labelKey}": …}, got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}.`);
      }
      const obj = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
      add(obj[labelKey], obj[textKey], `${path}:${i + 1}`);
      fields.push(Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v === 'string' || typeof v === 'number' ? String(v) : ''])));
    });
  } else if (ext === '.csv') {
    const [header, ...rows] = parseCsv(text);
    const names = (header ?? []).map((h) => h.trim().toLowerCase());
    const ti = names.indexOf(textKey);
    const li = names.indexOf(labelKey);
    if (ti < 0 || li < 0) {
      throw new InvalidInputError(
        `${path}: the CSV header has no "${ti < 0 ? textKey : labelKey}" column (columns: ${names.join(', ')}). ` +
          'Name the columns with --text-column <name> and --label-column <name>.',
      );
    }
    rows.forEach((r, i) => {
      add(r[li], r[ti], `${path}:${i + 2}`);
      fields.push(Object.fromEntries(names.map((n, c) => [n, (r[c] ?? '').trim()])));
    });
  } else {
    const lines = text.split(/\r?\n/);
    const firstLabel = (lines.find((l) => l.trim()) ?? '').split(/[\t ]/)[0];
    const skipHeader = HEADER_LABELS.has(firstLabel.trim().toLowerCase()) && lines.filter((l) => l.split(/[\t ]/)[0] === firstLabel).length === 1;
    let headerSkipped = false;
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      if (skipHeader && !headerSkipped) {
        headerSkipped = true;
        options.onNote?.(`${path}:${i + 1}: "${line.slice(0, 60)}" looks like a header line (not a labelled example); skipped.`);
        return;
      }
      const tab = line.indexOf('\t');
      const cut = tab >= 0 ? tab : line.indexOf(' ');
      if (cut <= 0) throw new InvalidInputError(`${path}:${i + 1}: expected "label<TAB>text" or "label text".`);
      add(line.slice(0, cut), line.slice(cut + 1), `${path}:${i + 1}`);
    });
  }
  if (items.length === 0) throw new InvalidInputError(`${path} has no labelled lines.`);
  return { modality: 'text', items, labels, ignored: [], ...(fields.length ? { fields } : {}) };
}

/** The examples a command works on: all of them, or with `--per-class k` a seeded few-shot sample (items, labels and groups together). */
export function perClassSample(
  items: string[],
  labels: string[],
  groups: string[] | undefined,
  perClass: number | undefined,
  seed: number,
): { items: string[]; labels: string[]; groups: string[] | undefined } {
  if (!perClass) return { items, labels, groups };
  const chosen = sampleFewShot(labels, perClass, seed);
  return { items: chosen.map((i) => items[i]), labels: chosen.map((i) => labels[i]), groups: groups && chosen.map((i) => groups[i]) };
}
