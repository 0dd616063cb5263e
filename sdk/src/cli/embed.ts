/** `edgehead embed`: one embedding per input, as JSON lines or a short table. */
import { parseArgs } from 'node:util';
import { POOLINGS, type Pooling } from '../backbone/pooling.js';
import type { OnnxDevice } from '../backbone/onnx/runtime.js';
import { loadBackbone } from '../node.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';
import { decodeOptionsFor, expandInputs } from './inputs.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';

export const embedHelp = `edgehead embed --backbone <manifest-id | manifest.json | model.onnx> [options] <inputs...>

  Inputs: image files (image backbones), WAV files (audio), sentences or @lines.txt (text).
  --cut <tensor>       expose this inner tensor of an ONNX model as the embedding
  --output <name>      for a .onnx file with several outputs: which one is the embedding
  --pool <kind>        ${POOLINGS.join(' | ')}
  --normalize          L2-normalise each embedding
  --device <d>         auto | node | wasm   (default auto: onnxruntime-node when installed)
  --threads <n>        WASM threads
  --batch <n>          maximum batch size
  --no-cache           recompute instead of reusing embeddings cached on disk (by content and fingerprint)
  --json               one JSON object per input: {"input","dim","embedding"}`;

export async function embedCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backbone: { type: 'string', short: 'b' },
      cut: { type: 'string' },
      output: { type: 'string' },
      pool: { type: 'string' },
      normalize: { type: 'boolean' },
      device: { type: 'string' },
      threads: { type: 'string' },
      batch: { type: 'string' },
      json: { type: 'boolean' },
      'no-cache': { type: 'boolean' },
    },
  });
  if (!values.backbone) throw new UsageError('embed needs --backbone <id|file>.');
  if (positionals.length === 0) throw new UsageError('embed needs at least one input.');
  if (values.device && !['auto', 'node', 'wasm', 'webgpu'].includes(values.device)) throw new UsageError(`--device must be auto, node, wasm or webgpu, not "${values.device}".`);
  if (values.pool && !POOLINGS.includes(values.pool as Pooling)) throw new UsageError(`--pool must be one of ${POOLINGS.join(', ')}.`);
  const { backbone, manifest } = await loadBackbone(values.backbone, {
    cut: values.cut,
    output: values.output,
    pooling: values.pool as Pooling | undefined,
    normalize: values.normalize,
    device: values.device as OnnxDevice | undefined,
    threads: numberFlag('threads', values.threads, { min: 1, max: 64, integer: true }),
    maxBatchSize: numberFlag('batch', values.batch, { min: 1, integer: true }),
    onTruncate: (i, n) => warn(`edgehead: input #${i} has ${n} tokens; truncated to the model's maximum.`),
  });
  try {
    // On stderr even with --json: which runtime ran (WASM is ~20x slower than native in Node).
    warn(`${manifest.id} (${manifest.modality}, ${backbone.dim}-d, ${backbone.device}); licence: ${manifest.license.name}`);
    let failures = 0;
    // Batches stream through (see streamEmbeddings): bounded memory, output as each batch finishes.
    for await (const batch of streamEmbeddings(backbone, manifest.modality, await expandInputs(manifest.modality, positionals), { cache: !values['no-cache'], decode: decodeOptionsFor(manifest) })) {
      // In input order; an unreadable input's error line takes its place.
      for (const item of batch.items) {
        if (!isEmbedded(item)) {
          reportInputFailure(item.input, item.error, values.json);
          failures++;
          continue;
        }
        const e = item.embedding;
        if (values.json) out(JSON.stringify({ input: item.input, dim: e.length, embedding: Array.from(e) }));
        else out(`${item.input}\t${e.length}-d\t[${Array.from(e.subarray(0, 4), (v) => v.toFixed(4)).join(', ')}, …]`);
      }
    }
    return failures ? 1 : 0;
  } finally {
    await backbone.dispose();
  }
}
