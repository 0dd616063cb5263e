/**
 * The trainer page: classes and their examples (files, drag and drop, webcam, microphone, typed
 * sentences), training in a Web Worker with cross-validation, live predictions, export/import of
 * the head file, and publishing to an edgehead worker. Plain DOM: the page is small enough that
 * a framework would be most of its code.
 */
import { decodeWav, EdgeClient } from 'edgehead';
import type { ExampleInput, FitResult, Modality, Request, Response } from './protocol.js';

interface Example {
  id: number;
  input: ExampleInput;
  embedding?: Float32Array;
  /** Object URL of an image thumbnail, or the text itself, or a duration. */
  preview: string;
}

interface ClassData {
  id: number;
  name: string;
  examples: Example[];
}

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & Record<string, unknown> = {}, ...children: Array<Node | string>) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
};

let modality: Modality = 'image';
let classes: ClassData[] = [];
let nextId = 1;
let fitted: FitResult | undefined;
let headJson: string | undefined;
let stream: MediaStream | undefined;

// ---- the engine worker: one request at a time, answered in order -------------------------------
const engine = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
let pending: { resolve: (r: Response) => void; reject: (e: Error) => void } | undefined;
let queue: Promise<unknown> = Promise.resolve();
engine.onmessage = (event: MessageEvent<Response>) => {
  const message = event.data;
  if (message.type === 'progress') return setStatus(`Embedding ${message.done} of ${message.total}…`, true);
  const p = pending;
  pending = undefined;
  if (message.type === 'error') p?.reject(new Error(message.message));
  else p?.resolve(message);
};

function ask<T extends Response['type']>(request: Request, transfer: Transferable[] = []): Promise<Extract<Response, { type: T }>> {
  const run = () =>
    new Promise<Response>((resolve, reject) => {
      pending = { resolve, reject };
      engine.postMessage(request, transfer);
    });
  const result = queue.then(run, run);
  queue = result.catch(() => undefined);
  return result as Promise<Extract<Response, { type: T }>>;
}

function setStatus(text: string, busy = false): void {
  const status = $('#status');
  status.textContent = text;
  status.setAttribute('aria-busy', String(busy));
}

function fail(e: unknown): void {
  setStatus(`Error: ${e instanceof Error ? e.message : String(e)}`);
}

// ---- backbone -----------------------------------------------------------------------------------
async function chooseModality(next: Modality): Promise<void> {
  modality = next;
  // The camera is only for images: release it (and the live loop) when switching away.
  if (next !== 'image' && stream) {
    if (live !== undefined) await toggleLive();
    stream.getTracks().forEach((t) => t.stop());
    stream = undefined;
    $<HTMLVideoElement>('#camera').hidden = true;
  }
  classes = [];
  fitted = undefined;
  headJson = undefined;
  addClass('Class 1');
  addClass('Class 2');
  render();
  setStatus('Loading the backbone…', true);
  try {
    const { info } = await ask<'loaded'>({ type: 'load', modality });
    const probe = info.deviceReport?.candidates.map((c: { device: string; ok: boolean; msPerRun?: number }) => `${c.device} ${c.ok ? 'ok' : 'rejected'}${c.msPerRun ? ` ${c.msPerRun.toFixed(0)} ms` : ''}`).join(', ');
    $('#backbone').textContent = `${info.backbone} · ${info.dim}-d · runs on ${info.device}${info.deviceReport ? ` (${info.deviceReport.reason}${probe ? `; ${probe}` : ''})` : ''} · loaded in ${(info.loadMs / 1000).toFixed(1)} s`;
    setStatus('Ready. Add examples to each class, then train.');
  } catch (e) {
    fail(e);
  }
}

// ---- classes and examples -----------------------------------------------------------------------
function addClass(name = `Class ${classes.length + 1}`): void {
  classes.push({ id: nextId++, name, examples: [] });
}

async function addInputs(target: ClassData, inputs: ExampleInput[]): Promise<void> {
  if (inputs.length === 0) return;
  const examples: Example[] = inputs.map((input) => ({ id: nextId++, input, preview: previewOf(input) }));
  target.examples.push(...examples);
  render();
  try {
    const { embeddings } = await ask<'embedded'>({ type: 'embed', inputs });
    examples.forEach((ex, i) => (ex.embedding = embeddings[i]));
    setStatus(`${examples.length} example(s) added to “${target.name}”.`);
  } catch (e) {
    target.examples = target.examples.filter((ex) => !examples.includes(ex));
    fail(e);
  }
  render();
}

function previewOf(input: ExampleInput): string {
  if (input.kind === 'image') return URL.createObjectURL(input.blob);
  if (input.kind === 'text') return input.text;
  return `${(input.samples.length / input.sampleRate).toFixed(1)} s clip`;
}

/** Files of this page's modality → inputs: images, WAV files, or text lines / CSV (first column). */
async function inputsFromFiles(files: Iterable<File>): Promise<ExampleInput[]> {
  const out: ExampleInput[] = [];
  for (const file of files) {
    if (modality === 'image' && file.type.startsWith('image/')) out.push({ kind: 'image', blob: file });
    else if (modality === 'audio' && /\.wav$/i.test(file.name)) {
      const clip = decodeWav(new Uint8Array(await file.arrayBuffer()), file.name);
      out.push({ kind: 'audio', samples: clip.samples, sampleRate: clip.sampleRate });
    } else if (modality === 'text') {
      const lines = (await file.text()).split(/\r?\n/).map((l) => (file.name.endsWith('.csv') ? l.split(',')[0] : l).trim()).filter(Boolean);
      out.push(...lines.map((text) => ({ kind: 'text' as const, text })));
    }
  }
  return out;
}

// ---- camera and microphone ----------------------------------------------------------------------
async function camera(): Promise<HTMLVideoElement> {
  const video = $<HTMLVideoElement>('#camera');
  if (!stream) {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
    video.srcObject = stream;
    await video.play();
    video.hidden = false;
  }
  return video;
}

async function snapshot(): Promise<Blob> {
  const video = await camera();
  const canvas = el('canvas', { width: video.videoWidth || 320, height: video.videoHeight || 240 });
  canvas.getContext('2d')!.drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('snapshot failed'))), 'image/png'));
}

async function recordClip(seconds = 1.5): Promise<ExampleInput> {
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(mic);
  const chunks: Float32Array[] = [];
  // ScriptProcessor is deprecated but everywhere; a clip this short needs no AudioWorklet file.
  const processor = context.createScriptProcessor(4096, 1, 1);
  processor.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(processor);
  processor.connect(context.destination);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  processor.disconnect();
  source.disconnect();
  mic.getTracks().forEach((t) => t.stop());
  const samples = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) samples.set(c, (offset += c.length) - c.length);
  const sampleRate = context.sampleRate;
  await context.close();
  return { kind: 'audio', samples, sampleRate };
}

/**
 * Hold-to-record state lives outside render(): each added snapshot re-renders the class cards, so
 * the button that saw pointerdown is gone by the time pointerup arrives.
 */
let holdTimer: number | undefined;
function stopHold(): void {
  if (holdTimer !== undefined) clearInterval(holdTimer);
  holdTimer = undefined;
}
for (const type of ['pointerup', 'pointercancel', 'blur'] as const) window.addEventListener(type, stopHold);

// ---- training and results -----------------------------------------------------------------------
async function train(): Promise<void> {
  const usable = classes.filter((c) => c.examples.some((e) => e.embedding));
  if (usable.length < 2) return setStatus('Add examples to at least two classes first.');
  const names = usable.map((c) => c.name.trim());
  if (new Set(names).size !== names.length || names.some((n) => !n)) return setStatus('Give every class a distinct, non-empty name.');
  const rows = usable.flatMap((c) => c.examples.filter((e) => e.embedding).map((e) => ({ embedding: e.embedding!, label: c.name.trim() })));
  setStatus(`Training on ${rows.length} examples (cross-validated choice of head)…`, true);
  try {
    const { result } = await ask<'fitted'>({ type: 'fit', embeddings: rows.map((r) => r.embedding), labels: rows.map((r) => r.label) });
    fitted = result;
    headJson = result.headJson;
    renderResults();
    setStatus(`Trained: ${result.head}.`);
  } catch (e) {
    fail(e);
  }
}

function renderResults(): void {
  const box = $('#results');
  box.replaceChildren();
  if (!fitted) return;
  const cv = fitted.cv;
  box.append(el('p', {}, `Head: ${fitted.head}. `, cv ? `Cross-validated (${cv.folds} folds): accuracy ${(cv.accuracy * 100).toFixed(1)} %, macro-F1 ${(cv.macroF1 * 100).toFixed(1)} %.` : 'Too few examples per class for cross-validation.'));
  if (cv) {
    const table = el('table', { className: 'confusion' });
    table.append(el('caption', {}, 'Cross-validation confusion (rows: true class, columns: predicted)'));
    table.append(el('tr', {}, el('th', { scope: 'col' }, ''), ...cv.labels.map((l) => el('th', { scope: 'col' }, l)), el('th', { scope: 'col' }, 'recall')));
    cv.confusion.forEach((row, i) => table.append(el('tr', {}, el('th', { scope: 'row' }, cv.labels[i]), ...row.map((n, j) => el('td', { className: i === j ? 'diag' : n ? 'off' : '' }, String(n))), el('td', {}, `${(cv.recall[cv.labels[i]] * 100).toFixed(0)} %`))));
    box.append(table);
  }
  const slider = $<HTMLInputElement>('#threshold');
  const held = fitted.heldOut;
  if (fitted.threshold !== undefined && held?.length) {
    const max = Math.max(...held, fitted.threshold) * 1.5;
    slider.max = String(max);
    slider.step = String(max / 200);
    slider.value = String(fitted.threshold);
    slider.disabled = false;
  } else slider.disabled = true;
  updateThreshold();
}

function updateThreshold(): void {
  const slider = $<HTMLInputElement>('#threshold');
  const note = $('#threshold-note');
  if (slider.disabled || !fitted?.heldOut) {
    note.textContent = 'This head has no “unknown” gate.';
    return;
  }
  const t = Number(slider.value);
  const rejected = fitted.heldOut.filter((d) => d > t).length;
  note.textContent = `Distance threshold ${t.toFixed(3)}: ${rejected} of ${fitted.heldOut.length} held-out examples of your classes (${((rejected / fitted.heldOut.length) * 100).toFixed(0)} %) would be answered “unknown”.`;
}

// ---- trying it ----------------------------------------------------------------------------------
async function predict(inputs: ExampleInput[]): Promise<void> {
  if (!headJson) return setStatus('Train or import a head first.');
  try {
    const { embeddings } = await ask<'embedded'>({ type: 'embed', inputs });
    const slider = $<HTMLInputElement>('#threshold');
    const { predictions } = await ask<'predicted'>({ type: 'predict', embeddings, threshold: slider.disabled ? undefined : Number(slider.value) });
    const box = $('#prediction');
    box.replaceChildren();
    for (const p of predictions) {
      box.append(el('p', { className: 'answer' }, p.unknown ? `unknown (nearest: ${p.nearest})` : `${p.label}`));
      for (const t of p.topK) {
        const bar = el('meter', { min: 0, max: 1, value: t.probability });
        bar.setAttribute('aria-label', `${t.label} ${(t.probability * 100).toFixed(0)} %`);
        box.append(el('div', { className: 'bar' }, el('span', {}, t.label), bar, el('span', {}, `${(t.probability * 100).toFixed(0)} %`)));
      }
    }
    setStatus('Predicted.');
  } catch (e) {
    fail(e);
  }
}

let live: number | undefined;
async function toggleLive(): Promise<void> {
  const button = $<HTMLButtonElement>('#live');
  if (live !== undefined) {
    clearInterval(live);
    live = undefined;
    button.textContent = 'Live from camera';
    return;
  }
  await camera();
  button.textContent = 'Stop live';
  let busy = false;
  live = window.setInterval(async () => {
    if (busy) return;
    busy = true;
    await predict([{ kind: 'image', blob: await snapshot() }]).finally(() => (busy = false));
  }, 700);
}

// ---- export, import, publish --------------------------------------------------------------------
function exportHead(): void {
  if (!headJson) return setStatus('Train a head first.');
  const a = el('a', { href: URL.createObjectURL(new Blob([headJson], { type: 'application/json' })), download: `edgehead-${modality}-head.json` });
  document.body.append(a);
  a.click();
  a.remove();
}

async function importHead(file: File): Promise<void> {
  try {
    const text = await file.text();
    const { labels, head } = await ask<'imported'>({ type: 'import', headJson: text });
    headJson = text;
    fitted = undefined;
    renderResults();
    setStatus(`Imported a ${head} head with classes ${labels.join(', ')}.`);
  } catch (e) {
    fail(e);
  }
}

async function publish(form: HTMLFormElement): Promise<void> {
  if (!headJson) return setStatus('Train a head first.');
  const data = new FormData(form);
  try {
    const client = new EdgeClient({ baseUrl: String(data.get('url')), apiKey: String(data.get('key')) });
    const alias = String(data.get('alias') || '') || undefined;
    const info = await client.upload(String(data.get('name')), headJson, { alias });
    $('#published').textContent = `Published ${info.name} version ${info.version}${info.alias ? ` as @${info.alias}` : ''} (${info.labels.length} classes).`;
    setStatus('Published.');
  } catch (e) {
    fail(e);
  }
}

// ---- rendering ----------------------------------------------------------------------------------
function render(): void {
  const list = $('#classes');
  list.replaceChildren();
  for (const c of classes) {
    const card = el('section', { className: 'class' });
    card.setAttribute('aria-label', `Class ${c.name}`);
    const name = el('input', { value: c.name, className: 'class-name' });
    name.setAttribute('aria-label', 'Class name');
    name.addEventListener('change', () => (c.name = name.value));
    const remove = el('button', { type: 'button', className: 'danger' }, 'Delete class');
    remove.addEventListener('click', () => {
      classes = classes.filter((x) => x !== c);
      render();
    });
    const files = el('input', { type: 'file', multiple: true, accept: modality === 'image' ? 'image/*' : modality === 'audio' ? '.wav,audio/wav' : '.txt,.csv,text/plain' });
    files.setAttribute('aria-label', `Add files to ${c.name}`);
    files.addEventListener('change', async () => addInputs(c, await inputsFromFiles(files.files ?? [])).catch(fail));
    const tools = el('div', { className: 'tools' }, el('label', { className: 'file' }, 'Add files ', files));
    if (modality === 'image') {
      const snap = el('button', { type: 'button' }, 'Webcam snapshot');
      snap.addEventListener('click', async () => addInputs(c, [{ kind: 'image', blob: await snapshot() }]).catch(fail));
      const hold = el('button', { type: 'button' }, 'Hold to record');
      const start = () => {
        stopHold();
        holdTimer = window.setInterval(async () => addInputs(c, [{ kind: 'image', blob: await snapshot() }]).catch(fail), 400);
      };
      hold.addEventListener('pointerdown', start);
      hold.addEventListener('pointerup', stopHold);
      hold.addEventListener('pointerleave', stopHold);
      // Keyboard: hold Space or Enter.
      hold.addEventListener('keydown', (e) => (e.key === ' ' || e.key === 'Enter') && !e.repeat && start());
      hold.addEventListener('keyup', stopHold);
      tools.append(snap, hold);
    } else if (modality === 'audio') {
      const rec = el('button', { type: 'button' }, 'Record 1.5 s clip');
      rec.addEventListener('click', async () => {
        setStatus('Recording…', true);
        await addInputs(c, [await recordClip()]).catch(fail);
      });
      tools.append(rec);
    } else {
      const sentence = el('input', { type: 'text', placeholder: 'Type an example sentence and press Enter' });
      sentence.setAttribute('aria-label', `Example sentence for ${c.name}`);
      sentence.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && sentence.value.trim()) {
          void addInputs(c, [{ kind: 'text', text: sentence.value.trim() }]);
          sentence.value = '';
        }
      });
      tools.append(sentence);
    }
    const chips = el('ul', { className: 'examples' });
    for (const ex of c.examples) {
      const content = ex.input.kind === 'image' ? el('img', { src: ex.preview, alt: `example ${ex.id}`, width: 48, height: 48 }) : el('span', {}, ex.preview);
      const x = el('button', { type: 'button', className: 'remove' }, '×');
      x.setAttribute('aria-label', `Remove example ${ex.id} from ${c.name}`);
      x.addEventListener('click', () => {
        c.examples = c.examples.filter((e) => e !== ex);
        render();
      });
      chips.append(el('li', { className: ex.embedding ? '' : 'pending' }, content, x));
    }
    card.append(el('div', { className: 'class-head' }, name, el('span', { className: 'count' }, `${c.examples.length} examples`), remove), tools, chips);
    // Drag and drop onto the class card.
    card.addEventListener('dragover', (e) => (e.preventDefault(), card.classList.add('drop')));
    card.addEventListener('dragleave', () => card.classList.remove('drop'));
    card.addEventListener('drop', async (e) => {
      e.preventDefault();
      card.classList.remove('drop');
      await addInputs(c, await inputsFromFiles(e.dataTransfer?.files ?? [])).catch(fail);
    });
    list.append(card);
  }
  $('#try-text').hidden = modality !== 'text';
  $('#live').hidden = modality !== 'image';
  $('#try-mic').hidden = modality !== 'audio';
}

// ---- wiring -------------------------------------------------------------------------------------
$<HTMLSelectElement>('#modality').addEventListener('change', (e) => void chooseModality((e.target as HTMLSelectElement).value as Modality));
$('#add-class').addEventListener('click', () => (addClass(), render()));
$('#train').addEventListener('click', () => void train());
$('#threshold').addEventListener('input', updateThreshold);
$('#live').addEventListener('click', () => void toggleLive().catch(fail));
$('#try-mic').addEventListener('click', async () => {
  setStatus('Listening…', true);
  await recordClip()
    .then((clip) => predict([clip]))
    .catch(fail);
});
$<HTMLInputElement>('#try-file').addEventListener('change', async (e) => void predict(await inputsFromFiles((e.target as HTMLInputElement).files ?? [])));
$<HTMLFormElement>('#try-text').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('#try-sentence');
  if (input.value.trim()) void predict([{ kind: 'text', text: input.value.trim() }]);
});
$('#export').addEventListener('click', exportHead);
$<HTMLInputElement>('#import').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void importHead(file);
});
$<HTMLFormElement>('#publish').addEventListener('submit', (e) => {
  e.preventDefault();
  void publish(e.target as HTMLFormElement);
});

void chooseModality('image');
