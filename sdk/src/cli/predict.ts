/** `edgehead predict head.json <inputs...>`: label, probability, top-k and unknown flag per input. */
import { parseArgs } from 'node:util';
import { openHead } from './head-file.js';
import { decodeOptionsFor } from './inputs.js';
import { streamEmbeddings } from './stream-embeddings.js';
import { numberFlag, out, reportInputFailure, UsageError } from './io.js';

export const predictHelp = `edgehead predict head.json <inputs...> [--json] [--top-k n] [--threshold d] [--no-reject] [--no-cache]
  Inputs as for embed (files, folders, @list.txt, or sentences / @lines.txt for text heads).
  Embeddings are cached on disk by content (--no-cache: recompute).`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'top-k': { type: 'string' }, threshold: { type: 'string' }, 'no-reject': { type: 'boolean' }, 'no-cache': { type: 'boolean' }, backbone: { type: 'string' } },
  });
  const [headPath, ...inputs] = positionals;
  if (!headPath || inputs.length === 0) throw new UsageError('predict needs a head file and at least one input.');
  // Flags are checked before the model loads or any input is read.
  const topK = numberFlag('top-k', values['top-k'], { min: 1, integer: true }) ?? 3;
  const threshold = numberFlag('threshold', values.threshold, { min: 0 });
  const { head, backbone, manifest } = await openHead(headPath, values.backbone);
  let failures = 0;
  try {
    // Batches stream through: output appears as each finishes, memory stays bounded, and an
    // unreadable input is reported on its own line without losing the others' answers.
    for await (const batch of streamEmbeddings(backbone, manifest.modality, inputs, { cache: !values['no-cache'], decode: decodeOptionsFor(manifest) })) {
      for (const f of batch.failed) reportInputFailure(f.input, f.error, values.json);
      failures += batch.failed.length;
      if (batch.labels.length === 0) continue;
      const embeddings = batch.embeddings;
      const predictions = head.predict(embeddings, { topK, threshold, rejectUnknown: values['no-reject'] ? false : undefined });
      predictions.forEach((p, i) => {
        const label = batch.labels[i];
        if (values.json) out(JSON.stringify({ input: label, ...p }));
        else out(`${label}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}\t${p.topK.map((t) => `${t.label}:${t.probability.toFixed(2)}`).join(' ')}`);
      });
    }
    return failures ? 1 : 0;
  } finally {
    await backbone.dispose();
  }
}
