/** `edgehead predict head.json <inputs...>`: label, probability, top-k and unknown flag per input. */
import { parseArgs } from 'node:util';
import { openHead } from './head-file.js';
import { readInputs, type ModalityInput } from './inputs.js';
import { out, UsageError } from './io.js';
import type { Backbone } from '../backbone/backbone.js';

export const predictHelp = `edgehead predict head.json <inputs...> [--json] [--top-k n] [--threshold d] [--no-reject]
  Inputs as for embed (files, or sentences / @lines.txt for text heads).`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'top-k': { type: 'string' }, threshold: { type: 'string' }, 'no-reject': { type: 'boolean' }, backbone: { type: 'string' } },
  });
  const [headPath, ...inputs] = positionals;
  if (!headPath || inputs.length === 0) throw new UsageError('predict needs a head file and at least one input.');
  const { head, backbone, manifest } = await openHead(headPath, values.backbone);
  try {
    const { labels, inputs: decoded } = await readInputs(manifest.modality, inputs);
    const embeddings = await (backbone as Backbone<ModalityInput>).embed(decoded);
    const predictions = head.predict(embeddings, {
      topK: values['top-k'] ? Number(values['top-k']) : 3,
      threshold: values.threshold !== undefined ? Number(values.threshold) : undefined,
      rejectUnknown: values['no-reject'] ? false : undefined,
    });
    predictions.forEach((p, i) => {
      if (values.json) out(JSON.stringify({ input: labels[i], ...p }));
      else out(`${labels[i]}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}\t${p.topK.map((t) => `${t.label}:${t.probability.toFixed(2)}`).join(' ')}`);
    });
    return 0;
  } finally {
    await backbone.dispose();
  }
}
