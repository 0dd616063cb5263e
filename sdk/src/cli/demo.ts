/**
 * `edgehead demo` (the README's first command): the whole product on an embedded example set,
 * offline. Embeds 96 support requests (12 intents × 8) with USE-lite, fits a head chosen by
 * cross-validation, starts the edge worker locally, pushes the head and the backbone, and
 * classifies new sentences over HTTP as plain text (the worker embeds them). Every number
 * printed is measured in this run.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backbone } from '../backbone/backbone.js';
import { EdgeClient } from '../client/edge-client.js';
import { describeSpec, fitHead } from '../heads/fit.js';
import { headToJson } from '../heads/format.js';
import { loadBackbone } from '../node.js';
import { readLabelledData } from './data.js';
import { out, warn } from './io.js';
import { bootstrapTenant, repoRoot, startLocalWorker } from './local-worker.js';
import { uploadBackbone } from './remote.js';

const NEW_SENTENCES = [
  'my parcel still has not shown up',
  'I keep getting logged out and cannot remember the password',
  'please stop charging me every month',
  'the checkout page crashes on my phone',
  'are you open on Christmas eve?',
];

export async function demoCommand(argv: string[] = []): Promise<number> {
  const withWorker = !argv.includes('--no-worker');
  const json = argv.includes('--json');
  // With --json, the narrative goes to stderr and one JSON summary to stdout.
  const say = json ? warn : out;
  const summary: Record<string, unknown> = {};
  const started = performance.now();
  // dist/examples in the published package (copied by the build), models/examples in the repository.
  const bundled = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'support-intents.tsv');
  const dataPath = existsSync(bundled) ? bundled : join(repoRoot(), 'models', 'examples', 'support-intents.tsv');
  const data = await readLabelledData(dataPath);
  const classes = [...new Set(data.labels)];
  say(`edgehead demo — a support-intent classifier from ${data.items.length} examples (${classes.length} intents × ${data.items.length / classes.length}), offline\n`);

  const { backbone, manifest } = await loadBackbone('use-lite');
  let headJson: string;
  let local: ReturnType<Awaited<ReturnType<typeof fitHead>>['head']['predict']>;
  try {
    say(`1. embed with ${manifest.id}: ${manifest.name}; licence ${manifest.license.name}; runtime ${backbone.device}`);
    const t = performance.now();
    const rows = await (backbone as Backbone<string>).embed(data.items);
    say(`   ${rows.length} sentences → ${backbone.dim}-d embeddings in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

    say('2. choose and fit a head by 4-fold stratified cross-validation (seed 0):');
    const report = await fitHead(rows, data.labels, { head: 'auto', folds: 4, seed: 0 });
    for (const c of report.tried) say(`   ${describeSpec(c.spec).padEnd(36)} CV accuracy ${c.accuracy.toFixed(3)}  macro-F1 ${c.macroF1.toFixed(3)}`);
    const cv = report.crossValidation;
    summary.head = describeSpec(report.spec);
    summary.crossValidation = cv ? { folds: cv.folds, accuracy: cv.accuracy, macroF1: cv.macroF1, n: cv.n } : null;
    summary.tried = report.tried.map((t) => ({ head: describeSpec(t.spec), accuracy: t.accuracy, macroF1: t.macroF1 }));
    say(`   → ${describeSpec(report.spec)}${cv ? `: cross-validated accuracy ${cv.accuracy.toFixed(3)}, macro-F1 ${cv.macroF1.toFixed(3)} on ${cv.n} examples` : ''}\n`);
    headJson = headToJson(report.head, { backbone: { id: manifest.id, fingerprint: backbone.fingerprint }, training: report.training });
    const fresh = await (backbone as Backbone<string>).embed(NEW_SENTENCES);
    local = report.head.predict(fresh);

    if (!withWorker) {
      say('3. (worker skipped) local predictions:');
      NEW_SENTENCES.forEach((s, i) => say(`   "${s}" → ${local[i].label ?? `unknown (nearest ${local[i].nearest})`} (${local[i].probability.toFixed(2)})`));
    } else {
      say('3. start the edge worker locally (wrangler dev on 127.0.0.1), push the head, classify plain text over HTTP:');
      let worker;
      try {
        worker = await startLocalWorker();
      } catch (e) {
        warn(`   could not start the worker (${(e as Error).message}); showing local predictions instead.`);
      }
      if (worker) {
        try {
          const keys = await bootstrapTenant(worker.url, worker.adminToken, 'demo');
          const writer = new EdgeClient({ baseUrl: worker.url, apiKey: keys.writeKey });
          const pushed = await writer.upload('support-intents', headJson, { alias: 'prod' });
          say(`   worker ${worker.url}: pushed support-intents v${pushed.version} (alias prod, ${pushed.size} bytes)`);
          // The worker runs USE-lite itself once its files are uploaded: the sentences go as plain text.
          const operator = new EdgeClient({ baseUrl: worker.url, apiKey: worker.adminToken });
          let files = 0;
          await uploadBackbone(operator, manifest, () => files++);
          say(`   pushed the ${manifest.id} backbone (${files} files), so the worker embeds raw text itself`);
          const reader = new EdgeClient({ baseUrl: worker.url, apiKey: keys.readKey });
          const t0 = performance.now();
          const remote = await reader.classify('support-intents@prod', { inputs: NEW_SENTENCES });
          const seconds = (performance.now() - t0) / 1000;
          say(`   POST /v1/heads/support-intents@prod/classify {"inputs": [5 sentences]} → ${seconds.toFixed(1)} s (the first call loads ${manifest.id} in the worker)`);
          summary.remote = remote.predictions.map((p, i) => ({ text: NEW_SENTENCES[i], label: p.label, probability: p.probability, version: remote.version, sameAsLocal: p.label === local[i].label }));
          remote.predictions.forEach((p, i) => {
            // The worker embeds with the same TF.js WASM code: the same label and probability.
            const same = p.label === local[i].label && Math.abs(p.probability - local[i].probability) < 1e-6;
            say(`   "${NEW_SENTENCES[i]}"\n      → ${p.label ?? `unknown (nearest ${p.nearest})`}  p=${p.probability.toFixed(2)}  (answered by v${remote.version}${same ? ', same as local' : ', DIFFERS from local'})`);
          });
        } finally {
          await worker.stop();
        }
      } else {
        NEW_SENTENCES.forEach((s, i) => say(`   "${s}" → ${local[i].label ?? 'unknown'} (${local[i].probability.toFixed(2)})`));
      }
    }
  } finally {
    await backbone.dispose();
  }
  say(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s. With your own data:`);
  say('  npx edgehead fit my-photos/ --backbone mobilenetv2-int8 --out pets.json     # one sub-folder per class');
  say('  npx edgehead fit tickets.tsv --backbone use-lite --out intents.json         # label<TAB>text lines');
  say('  npx edgehead fit commands/ --backbone openwakeword-embedding --out cmd.json # WAV files per class');
  say('  npx edgehead serve   then   npx edgehead push pets.json --name pets --alias prod');
  if (json) out(JSON.stringify(summary));
  return 0;
}
