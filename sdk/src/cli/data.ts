/**
 * Reads a labelled dataset for `fit`/`eval`: a folder with one sub-folder per class (images or
 * WAV audio), or a text file (`label<TAB>text`, `label text`, CSV with a header, JSONL).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import type { Modality } from '../manifest/manifest.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);
export const AUDIO_EXTENSIONS = new Set(['.wav']);

export interface LabelledInputs {
  modality: Modality;
  /** File paths (image/audio) or texts. */
  items: string[];
  labels: string[];
  /** Files ignored because their extension is not an image or audio type. */
  ignored: string[];
}

export async function readLabelledData(path: string): Promise<LabelledInputs> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new InvalidInputError(`Data path ${path} does not exist. Pass a folder with one sub-folder per class, or a labelled text file.`);
  }
  return info.isDirectory() ? readClassFolders(path) : readTextFile(path);
}

async function readClassFolders(root: string): Promise<LabelledInputs> {
  const all = await readdir(root, { withFileTypes: true });
  // Class folders may be symlinks to folders elsewhere (datasets are often linked, not copied).
  const isDir = async (e: (typeof all)[number]) => e.isDirectory() || (e.isSymbolicLink() && (await stat(join(root, e.name)).then((s) => s.isDirectory(), () => false)));
  const entries = [];
  for (const e of all) if (!e.name.startsWith('.') && (await isDir(e))) entries.push(e);
  if (entries.length === 0) throw new InvalidInputError(`${root} has no class sub-folders. Put each class's files in ${root}/<class name>/.`);
  const items: string[] = [];
  const labels: string[] = [];
  const ignored: string[] = [];
  const kinds = new Set<Modality>();
  const empty: string[] = [];
  for (const dir of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const files = (await readdir(join(root, dir.name), { withFileTypes: true })).filter((f) => (f.isFile() || f.isSymbolicLink()) && !f.name.startsWith('.'));
    let used = 0;
    for (const f of files.sort((a, b) => a.name.localeCompare(b.name))) {
      const ext = extname(f.name).toLowerCase();
      const kind: Modality | undefined = IMAGE_EXTENSIONS.has(ext) ? 'image' : AUDIO_EXTENSIONS.has(ext) ? 'audio' : undefined;
      const p = join(root, dir.name, f.name);
      if (!kind) {
        ignored.push(p);
        continue;
      }
      kinds.add(kind);
      items.push(p);
      labels.push(dir.name);
      used++;
    }
    if (used === 0) empty.push(dir.name);
  }
  if (empty.length) {
    throw new InvalidInputError(`Class folder(s) ${empty.map((e) => `"${e}"`).join(', ')} contain no image or WAV files. Add examples or remove the folder.`);
  }
  if (kinds.size > 1) {
    throw new InvalidInputError(`${root} mixes images and audio; a head is trained on one modality. Split them into separate datasets.`);
  }
  return { modality: [...kinds][0], items, labels, ignored };
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

async function readTextFile(path: string): Promise<LabelledInputs> {
  const text = (await readFile(path, 'utf8')).replace(/^\uFEFF/, '');
  const ext = extname(path).toLowerCase();
  const items: string[] = [];
  const labels: string[] = [];
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
      let obj: { text?: unknown; label?: unknown };
      try {
        obj = JSON.parse(line) as typeof obj;
      } catch {
        throw new InvalidInputError(`${path}:${i + 1}: not valid JSON. Each line must be {"text": …, "label": …}.`);
      }
      add(obj.label, obj.text, `${path}:${i + 1}`);
    });
  } else if (ext === '.csv') {
    const [header, ...rows] = parseCsv(text);
    const names = (header ?? []).map((h) => h.trim().toLowerCase());
    const ti = names.indexOf('text');
    const li = names.indexOf('label');
    if (ti < 0 || li < 0) throw new InvalidInputError(`${path}: the CSV header must name "text" and "label" columns (found: ${names.join(', ')}).`);
    rows.forEach((r, i) => add(r[li], r[ti], `${path}:${i + 2}`));
  } else {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      const tab = line.indexOf('\t');
      const cut = tab >= 0 ? tab : line.indexOf(' ');
      if (cut <= 0) throw new InvalidInputError(`${path}:${i + 1}: expected "label<TAB>text" or "label text".`);
      add(line.slice(0, cut), line.slice(cut + 1), `${path}:${i + 1}`);
    });
  }
  if (items.length === 0) throw new InvalidInputError(`${path} has no labelled lines.`);
  return { modality: 'text', items, labels, ignored: [] };
}
