/**
 * A self-contained HTML report of a fit (no scripts or assets from the network): summary,
 * cross-validated confusion matrix, per-class precision/recall, a PCA map of the embeddings
 * coloured by class, and the misclassified examples (with thumbnails for images).
 * @module
 */
import type { Evaluation } from '../heads/metrics.js';
import type { Matrix } from '../heads/matrix.js';
import { pca2 } from './pca.js';

export interface ReportRow {
  /** File path or text. */
  item: string;
  label: string;
  /** Out-of-fold prediction (undefined when not scored, e.g. augmented views). */
  predicted?: string;
  augmented?: boolean;
}

export interface ReportInput {
  title: string;
  modality: 'image' | 'text' | 'audio';
  backbone: { id: string; name: string; license: string; fingerprint: string };
  head: string;
  createdAt: string;
  labels: string[];
  nPerClass: Record<string, number>;
  crossValidation?: Evaluation & { folds: number };
  tried: Array<{ head: string; accuracy: number; macroF1: number }>;
  rows: ReportRow[];
  embeddings: Matrix;
  /** data: URIs of thumbnails by item (images). */
  thumbnails?: Map<string, string>;
  notes?: string[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const colour = (i: number, n: number) => `hsl(${Math.round((360 * i) / Math.max(n, 1))} 70% 45%)`;

function confusionTable(cv: Evaluation): string {
  const max = Math.max(1, ...cv.confusion.flat());
  const head = cv.labels.map((l) => `<th class="rot"><span>${esc(l)}</span></th>`).join('');
  const body = cv.confusion
    .map((row, i) => {
      const cells = row
        .map((v, j) => {
          const alpha = v / max;
          const bg = i === j ? `rgba(22,128,60,${alpha})` : `rgba(200,40,40,${alpha})`;
          return `<td style="background:${bg};color:${alpha > 0.55 ? '#fff' : '#111'}">${v || ''}</td>`;
        })
        .join('');
      return `<tr><th>${esc(cv.labels[i])}</th>${cells}</tr>`;
    })
    .join('');
  return `<table class="confusion"><thead><tr><th>true \\ predicted</th>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function perClassTable(cv: Evaluation): string {
  const rows = cv.labels
    .map((l) => {
      const c = cv.perClass[l];
      return `<tr><th>${esc(l)}</th><td>${c.support}</td><td>${c.precision.toFixed(3)}</td><td>${c.recall.toFixed(3)}</td><td>${c.f1.toFixed(3)}</td><td><div class="bar"><div style="width:${(100 * c.f1).toFixed(1)}%"></div></div></td></tr>`;
    })
    .join('');
  return `<table class="per-class"><thead><tr><th>class</th><th>n</th><th>precision</th><th>recall</th><th>F1</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function scatter(input: ReportInput): string {
  const { points, explained } = pca2(input.embeddings);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const W = 640;
  const H = 440;
  const pad = 20;
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
  const sy = (y: number) => H - pad - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * pad);
  const index = new Map(input.labels.map((l, i) => [l, i]));
  const marks = points
    .map((p, i) => {
      const r = input.rows[i];
      const fill = colour(index.get(r.label) ?? 0, input.labels.length);
      const wrong = r.predicted !== undefined && r.predicted !== r.label;
      const title = `<title>${esc(r.label)}${wrong ? ` → predicted ${esc(r.predicted as string)}` : ''}: ${esc(r.item.slice(0, 120))}</title>`;
      return wrong
        ? `<g class="wrong"><path d="M${sx(p[0]) - 4},${sy(p[1]) - 4}l8,8m0,-8l-8,8" stroke="${fill}" stroke-width="2.2"/>${title}</g>`
        : `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="${r.augmented ? 2 : 3.5}" fill="${fill}" fill-opacity="${r.augmented ? 0.45 : 0.85}">${title}</circle>`;
    })
    .join('');
  const legend = input.labels.map((l, i) => `<span class="key"><i style="background:${colour(i, input.labels.length)}"></i>${esc(l)}</span>`).join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="PCA of the embeddings">${marks}</svg>
<p class="legend">${legend}</p>
<p class="muted">First two principal components of the ${input.embeddings.cols}-d embeddings (${pct(explained[0])} and ${pct(explained[1])} of the variance). Crosses: misclassified in cross-validation${input.rows.some((r) => r.augmented) ? '; small faint dots: augmented views' : ''}.</p>`;
}

function mistakes(input: ReportInput): string {
  const wrong = input.rows.filter((r) => r.predicted !== undefined && r.predicted !== r.label);
  if (wrong.length === 0) return '<p>No cross-validation mistakes.</p>';
  const shown = wrong.slice(0, 60);
  const cards = shown
    .map((r) => {
      const thumb = input.thumbnails?.get(r.item);
      const body = thumb ? `<img src="${thumb}" alt="">` : `<blockquote>${esc(r.item.length > 240 ? `${r.item.slice(0, 240)}…` : r.item)}</blockquote>`;
      return `<figure>${body}<figcaption><b>${esc(r.label)}</b> → ${esc(r.predicted as string)}${thumb ? `<br><small>${esc(r.item.split('/').slice(-2).join('/'))}</small>` : ''}</figcaption></figure>`;
    })
    .join('');
  return `<div class="mistakes">${cards}</div>${wrong.length > shown.length ? `<p class="muted">…and ${wrong.length - shown.length} more.</p>` : ''}`;
}

export function renderReport(input: ReportInput): string {
  const cv = input.crossValidation;
  const counts = Object.entries(input.nPerClass)
    .map(([l, n]) => `${esc(l)}: ${n}`)
    .join(', ');
  const tried = input.tried.length
    ? `<h2>Heads tried</h2><table><thead><tr><th>head</th><th>CV accuracy</th><th>CV macro-F1</th></tr></thead><tbody>${input.tried
        .map((t) => `<tr><td class="left">${esc(t.head)}</td><td>${t.accuracy.toFixed(3)}</td><td>${t.macroF1.toFixed(3)}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(input.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1b1f24;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
.muted{color:#5c6670}.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:14px 0}
.card{background:#f5f7f9;border-radius:8px;padding:10px 12px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 8px;text-align:right;border-bottom:1px solid #eef0f2}th{text-align:left;font-weight:600}
.confusion td{width:34px;text-align:center}.rot{height:110px;vertical-align:bottom;white-space:nowrap}.rot span{display:inline-block;transform:rotate(-55deg);transform-origin:left bottom;width:24px}
.bar{width:120px;height:8px;background:#eef0f2;border-radius:4px}.bar div{height:8px;background:#2f7d4f;border-radius:4px}
.legend .key{display:inline-block;margin:0 12px 4px 0}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
svg{background:#fbfcfd;border:1px solid #e3e6ea;border-radius:8px;max-width:100%;height:auto}
.mistakes{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;width:150px;background:#f5f7f9;border-radius:8px;padding:8px}
figure img{width:134px;height:134px;object-fit:contain;image-rendering:pixelated;background:#fff}blockquote{margin:0;font-size:13px}
figcaption{font-size:12px;margin-top:4px}td.left{text-align:left}
</style></head><body>
<h1>${esc(input.title)}</h1>
<p class="muted">${esc(input.createdAt)} · backbone <b>${esc(input.backbone.id)}</b> (${esc(input.backbone.name)}, licence ${esc(input.backbone.license)}) · head <b>${esc(input.head)}</b></p>
<div class="summary">
<div class="card"><span class="muted">examples</span><b>${input.rows.filter((r) => !r.augmented).length}</b></div>
<div class="card"><span class="muted">classes</span><b>${input.labels.length}</b></div>
<div class="card"><span class="muted">CV accuracy</span><b>${cv ? pct(cv.accuracy) : 'n/a'}</b></div>
<div class="card"><span class="muted">CV macro-F1</span><b>${cv ? cv.macroF1.toFixed(3) : 'n/a'}</b></div>
</div>
<p class="muted">Examples per class: ${counts}. ${cv ? `Metrics are pooled out-of-fold predictions of ${cv.folds}-fold stratified cross-validation.` : 'No cross-validation (a class has a single example).'} Fingerprint ${esc(input.backbone.fingerprint)}.</p>
${(input.notes ?? []).map((n) => `<p class="muted">${esc(n)}</p>`).join('')}
${cv ? `<h2>Confusion matrix</h2>${confusionTable(cv)}<h2>Per class</h2>${perClassTable(cv)}` : ''}
${tried}
<h2>Embedding map</h2>
${scatter(input)}
<h2>Misclassified examples</h2>
${mistakes(input)}
</body></html>
`;
}
