/** `edgehead predict head.json <inputs...>`: label, probability, top-k and unknown flag per input. */
import { parseArgs } from 'node:util';
import { coralFromFlag, coralHelp } from './align.js';
import { openHead } from './head-file.js';
import { decodeOptionsFor, expandInputs } from './inputs.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';

export const predictHelp = `edgehead predict head.json <inputs...> [--json] [--top-k n] [--threshold d] [--no-reject] [--no-cache] [--coral <data>]
  Inputs as for embed (files, folders, @list.txt, or sentences / @lines.txt for text heads).
  Embeddings are cached on disk by content (--no-cache: recompute).
${coralHelp}`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'top-k': { type: 'string' }, threshold: { type: 'string' }, 'no-reject': { type: 'boolean' }, 'no-cache': { type: 'boolean' }, backbone: { type: 'string' }, coral: { type: 'string' } },
  });
  const [headPath, ...inputs] = positionals;
  if (!headPath || inputs.length === 0) throw new UsageError('predict needs a head file and at least one input.');
  // Flags are checked before the model loads or any input is read.
  const topK = numberFlag('top-k', values['top-k'], { min: 1, integer: true }) ?? 3;
  const threshold = numberFlag('threshold', values.threshold, { min: 0 });
  const opened = await openHead(headPath, values.backbone);
  const { head, backbone, manifest } = opened;
  let failures = 0;
  try {
    const coral = values.coral ? await coralFromFlag(values.coral, opened, headPath, values) : undefined;
    if (coral && !values.json) warn(`CORAL: aligned to the head's ${coral.referenceRows} kept training rows, fitted on ${coral.targetRows} inputs from ${values.coral}`);
    // Batches stream through: output appears as each finishes, memory stays bounded, and an
    // unreadable input is reported on its own line without losing the others' answers.
    for await (const batch of streamEmbeddings(backbone, manifest.modality, await expandInputs(manifest.modality, inputs), { cache: !values['no-cache'], decode: decodeOptionsFor(manifest) })) {
      const embedded = batch.items.filter(isEmbedded);
      const rows = embedded.map((e) => e.embedding);
      const predictions = embedded.length ? head.predict(coral ? coral.alignment.transform(rows) : rows, { topK, threshold, rejectUnknown: values['no-reject'] ? false : undefined }) : [];
      let k = 0;
      // Answers in input order; an unreadable input's error line takes its place.
      for (const item of batch.items) {
        if (!isEmbedded(item)) {
          reportInputFailure(item.input, item.error, values.json);
          failures++;
          continue;
        }
        const p = predictions[k++];
        if (values.json) out(JSON.stringify({ input: item.input, ...p }));
        else out(`${item.input}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}\t${p.topK.map((t) => `${t.label}:${t.probability.toFixed(2)}`).join(' ')}`);
      }
    }
    return failures ? 1 : 0;
  } finally {
    await backbone.dispose();
  }
}
