/**
 * `--coral <unlabelled data>` for eval and predict: CORAL (coralAlign) maps the new domain's
 * embeddings into the head's training domain. The training side is the sample of training
 * embeddings the head file keeps (fit --keep-reference); the new side is unlabelled data from
 * the new domain (the inputs themselves will do).
 */
import { stat } from 'node:fs/promises';
import type { AnyBackbone } from '../backbone/create.js';
import { coralAlign, type CoralAlignment } from '../heads/coral.js';
import { decodeReference, type TrainingSummary } from '../heads/format.js';
import type { Manifest } from '../manifest/manifest.js';
import { UsageError } from './io.js';
import { embedSide, type SideOptions } from './shift.js';

export const coralHelp = `  --coral <data>     align the inputs' embeddings to the head's training domain first (CORAL; Sun &
                     Saenko 2016), fitted on <data>: unlabelled inputs from the new domain (one
                     folder, file or @list.txt; the inputs themselves will do) against the training sample
                     the head keeps (fit --keep-reference 256). Align only when a shift costs
                     accuracy (edgehead shift; docs/results.md): it can also cost some.`;

export interface CoralFit {
  alignment: CoralAlignment;
  referenceRows: number;
  targetRows: number;
}

export async function coralFromFlag(
  target: string,
  opened: { training: TrainingSummary | null; backbone: AnyBackbone; manifest: Manifest },
  headPath: string,
  values: SideOptions,
): Promise<CoralFit> {
  // Checked first, so a typo is named as the --coral path, not as an unreadable input.
  if (!target.startsWith('@') && !(await stat(target).catch(() => undefined))) throw new UsageError(`--coral ${target}: no such file or folder. Give one folder, file or @list.txt of unlabelled inputs from the new domain.`);
  const kept = decodeReference(opened.training, opened.backbone.dim);
  if (!kept) throw new UsageError(`--coral aligns inputs to the head's training sample, and ${headPath} keeps none: fit it again with --keep-reference 256.`);
  const rows = await embedSide(opened.backbone, opened.manifest, target, values);
  if (rows.rows < 2) throw new UsageError(`--coral needs at least 2 readable inputs from the new domain in ${target}; got ${rows.rows}.`);
  return { alignment: coralAlign(kept.rows, rows), referenceRows: kept.rows.rows, targetRows: rows.rows };
}
