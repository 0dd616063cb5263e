/** `edgehead eval head.json <data>`: accuracy, macro-F1, per-class metrics, confusion matrix. */
import { parseArgs } from 'node:util';
import { expectedCalibrationError, reliabilityBins } from '../heads/calibration.js';
import { evaluate } from '../heads/metrics.js';
import { readLabelledData } from './data.js';
import { embedItems } from './embed-items.js';
import { decodeOptionsFor } from './inputs.js';
import { coralFromFlag, coralHelp } from './align.js';
import { openHead } from './head-file.js';
import { encodingFlag, out, UsageError, warn } from './io.js';

export const evalHelp = `edgehead eval head.json <data> [--json] [--no-reject] [--no-cache] [--strict] [--coral <data>] [--text-column c] [--label-column c] [--encoding latin1]
  Scores a head on labelled data (same formats as fit), as predict answers: inputs the head's
  open-set gate rejects as unknown count as errors. Accuracy without rejection is reported too;
  --no-reject makes it the headline (as predict --no-reject). Embeddings are cached on disk by
  content (--no-cache: recompute). With --coral, the scores before alignment are reported too.
${coralHelp}`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      'no-reject': { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      // Rejection is the default now (one default with predict, the SDK and the worker); kept so old scripts run.
      'reject-unknown': { type: 'boolean' },
      strict: { type: 'boolean' },
      backbone: { type: 'string' },
      'text-column': { type: 'string' },
      'label-column': { type: 'string' },
      encoding: { type: 'string' },
      coral: { type: 'string' },
    },
  });
  const [headPath, data] = positionals;
  if (!headPath || !data) throw new UsageError('eval needs a head file and a data folder or file.');
  const encoding = encodingFlag(values.encoding);
  if (values['no-reject'] && values['reject-unknown']) throw new UsageError('--no-reject and --reject-unknown contradict each other; rejection is the default, so pass --no-reject or nothing.');
  const opened = await openHead(headPath, values.backbone);
  const { head, backbone, manifest } = opened;
  try {
    const dataset = await readLabelledData(data, { textColumn: values['text-column'], labelColumn: values['label-column'], encoding, onNote: (n) => warn(n) });
    if (dataset.modality !== manifest.modality) throw new UsageError(`${data} holds ${dataset.modality} data; this head's backbone embeds ${manifest.modality}.`);
    // Checked before embedding anything: a mismatched label set is known from the file alone.
    const unknownLabels = [...new Set(dataset.labels)].filter((l) => !head.labels.includes(l));
    if (unknownLabels.length) throw new UsageError(`The data has label(s) the head was not trained on: ${unknownLabels.join(', ')} (the head knows ${head.labels.join(', ')}).`);
    const embedded = await embedItems(backbone, dataset.modality, dataset.items, { strict: values.strict, decode: decodeOptionsFor(manifest), cache: !values['no-cache'] });
    if (embedded.skipped.length && !values.json) warn(`skipped ${embedded.skipped.length} unreadable file(s)`);
    const truth = embedded.kept.map((i) => dataset.labels[i]);
    // Same default as predict, the SDK and the worker: reject when the head has a gate.
    const rejecting = !values['no-reject'] && head.openSet !== undefined;
    const coral = values.coral ? await coralFromFlag(values.coral, opened, headPath, values) : undefined;
    const unaligned = coral ? evaluate(truth, head.predict(embedded.embeddings, { rejectUnknown: rejecting }).map((p) => p.label ?? '\u0000unknown'), head.labels) : undefined;
    const predictions = head.predict(coral ? coral.alignment.transform(embedded.embeddings) : embedded.embeddings, { rejectUnknown: rejecting });
    const result = evaluate(truth, predictions.map((p) => p.label ?? '\u0000unknown'), head.labels);
    const closedSet = evaluate(truth, predictions.map((p) => p.nearest), head.labels);
    const rejected = predictions.filter((p) => p.unknown).length;
    // Rejections of inputs whose nearest label was right: what the gate cost on this data.
    const falselyRejected = predictions.filter((p, i) => p.unknown && p.nearest === truth[i]).length;
    const rejection = {
      on: rejecting,
      threshold: rejecting ? head.openSet!.threshold : null,
      rejected,
      rate: result.n ? rejected / result.n : 0,
      rejectedButRight: falselyRejected,
    };
    // Calibration of the top probability (of the most likely known label), 10 equal-width bins.
    const confidence = predictions.map((p) => p.probability);
    const correct = predictions.map((p, i) => p.nearest === truth[i]);
    const ece = expectedCalibrationError(confidence, correct, 10);
    const reliability = reliabilityBins(confidence, correct, 10).map((b) => ({ ...b, confidence: Number.isNaN(b.confidence) ? null : b.confidence, accuracy: Number.isNaN(b.accuracy) ? null : b.accuracy }));
    const cal = head.kind === 'knn' ? undefined : head.calibration;
    const calibration = cal ? { method: cal.method, temperature: cal.temperature } : null;
    if (values.json) {
      out(
        JSON.stringify({
          accuracy: result.accuracy,
          macroF1: result.macroF1,
          n: result.n,
          ece,
          reliability,
          calibration,
          perClass: result.perClass,
          labels: result.labels,
          confusion: result.confusion,
          unknown: result.unknown ?? 0,
          rejection,
          withoutRejection: { accuracy: closedSet.accuracy, macroF1: closedSet.macroF1 },
          ...(coral ? { coral: { referenceRows: coral.referenceRows, targetRows: coral.targetRows, unaligned: { accuracy: unaligned!.accuracy, macroF1: unaligned!.macroF1 } } } : {}),
          skipped: embedded.skipped.length,
        }),
      );
      return 0;
    }
    out(`accuracy ${result.accuracy.toFixed(4)}  macro-F1 ${result.macroF1.toFixed(4)}  n=${result.n}`);
    if (coral) {
      out(
        `CORAL: aligned to the head's ${coral.referenceRows} kept training rows, fitted on ${coral.targetRows} inputs from ${values.coral}; ` +
          `without alignment: accuracy ${unaligned!.accuracy.toFixed(4)}  macro-F1 ${unaligned!.macroF1.toFixed(4)}`,
      );
    }
    if (rejecting) {
      out(
        `unknown rejection on (threshold ${rejection.threshold!.toFixed(4)}, as predict): ${rejected} of ${result.n} rejected (${(100 * rejection.rate).toFixed(1)}%), counted as errors; ` +
          `${falselyRejected} of them had the right nearest label. Without rejection: accuracy ${closedSet.accuracy.toFixed(4)}  macro-F1 ${closedSet.macroF1.toFixed(4)}`,
      );
    } else {
      out(head.openSet ? 'unknown rejection off (--no-reject)' : 'this head has no unknown gate: every input gets its nearest label');
    }
    out(`calibration: ECE ${ece.toFixed(4)} (10 bins)${calibration ? `, temperature scaling T=${calibration.temperature.toFixed(3)}` : ', uncalibrated probabilities'}`);
    out(`reliability (confidence bin: n, mean confidence → accuracy): ${reliability.filter((b) => b.count).map((b) => `${b.lo.toFixed(1)}–${b.hi.toFixed(1)}: ${b.count}, ${b.confidence!.toFixed(2)}→${b.accuracy!.toFixed(2)}`).join('; ')}`);
    out(`${'class'.padEnd(24)}${'precision'.padStart(10)}${'recall'.padStart(8)}${'F1'.padStart(7)}${'n'.padStart(6)}`);
    for (const l of result.labels) {
      const c = result.perClass[l];
      out(`${l.slice(0, 24).padEnd(24)}${c.precision.toFixed(3).padStart(10)}${c.recall.toFixed(3).padStart(8)}${c.f1.toFixed(3).padStart(7)}${String(c.support).padStart(6)}`);
    }
    // Rejected inputs have no predicted label: their own column, so each row adds up to its class.
    const rejectedOf = new Map<string, number>();
    predictions.forEach((p, i) => p.unknown && rejectedOf.set(truth[i], (rejectedOf.get(truth[i]) ?? 0) + 1));
    out(`confusion (rows = true, columns = predicted in the order above${rejecting ? ', then rejected as unknown' : ''}):`);
    for (const [i, r] of result.confusion.entries()) {
      const label = result.labels[i];
      out(`${label.slice(0, 12).padEnd(12)} ${r.map((v) => String(v).padStart(5)).join('')}${rejecting ? `  | ${String(rejectedOf.get(label) ?? 0).padStart(5)}` : ''}`);
    }
    return 0;
  } finally {
    await backbone.dispose();
  }
}
