/** `edgehead models list|info|verify`. */
import { parseArgs } from 'node:util';
import { summarizeModel } from '../backbone/onnx/graph.js';
import { listManifests, loadModelFilesNode, resolveManifest } from '../node.js';
import type { Manifest } from '../manifest/manifest.js';
import { out, UsageError } from './io.js';

export const modelsHelp = `edgehead models list [--json]
edgehead models info <id | manifest.json | model.onnx> [--json]    manifest, licence, and (ONNX) every tensor name
edgehead models verify [id...] [--json]                           check every file's sha256`;

export async function modelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
  switch (sub) {
    case 'list': {
      const manifests = await listManifests();
      if (values.json) out(JSON.stringify(manifests.map(brief)));
      else for (const m of manifests) out(`${m.id.padEnd(26)} ${m.modality.padEnd(6)} ${String(m.output.dim).padStart(5)}-d  ${m.license.name.padEnd(11)} ${m.name}`);
      return 0;
    }
    case 'info': {
      if (!positionals[0]) throw new UsageError('models info needs a model id or file.');
      const m = await resolveManifest(positionals[0]);
      const files = await loadModelFilesNode(m);
      const graphs = Object.fromEntries(
        Object.entries(files)
          .filter(([key]) => m.format !== 'tfjs-use' && !key.endsWith('.json') && key !== 'tokenizer')
          .map(([key, bytes]) => [key, summarizeModel(bytes)]),
      );
      if (values.json) {
        out(JSON.stringify({ ...m, graphs }));
        return 0;
      }
      out(`${m.id}: ${m.name}`);
      out(`modality ${m.modality}, format ${m.format}, ${m.output.dim}-d`);
      out(`licence: ${m.license.name}${m.license.url ? ` (${m.license.url})` : ''}${m.license.notice ? `\n  ${m.license.notice}` : ''}`);
      for (const [key, g] of Object.entries(graphs)) {
        out(`${key}: inputs ${g.inputs.map((i) => `${i.name}[${i.shape.join(',')}]`).join(', ')}; outputs ${g.outputs.map((o) => `${o.name}[${o.shape.join(',')}]`).join(', ')}`);
        out(`  tensors (cut candidates): ${g.tensors.map((t) => `${t.name} (${t.op})`).join(', ')}`);
      }
      return 0;
    }
    case 'verify': {
      const manifests = positionals.length ? await Promise.all(positionals.map((p) => resolveManifest(p))) : await listManifests();
      let failed = 0;
      const results: Array<{ id: string; ok: boolean; files?: number; error?: string }> = [];
      for (const m of manifests) {
        try {
          const files = await loadModelFilesNode(m);
          results.push({ id: m.id, ok: true, files: Object.keys(files).length });
          if (!values.json) out(`ok    ${m.id} (${Object.keys(files).length} files, sha256 verified)`);
        } catch (e) {
          failed++;
          results.push({ id: m.id, ok: false, error: (e as Error).message });
          if (!values.json) out(`FAIL  ${m.id}: ${(e as Error).message}`);
        }
      }
      if (values.json) out(JSON.stringify(results));
      return failed ? 1 : 0;
    }
    default:
      throw new UsageError(`unknown models subcommand "${sub ?? ''}"; use list, info or verify.`);
  }
}

function brief(m: Manifest) {
  return { id: m.id, name: m.name, modality: m.modality, format: m.format, dim: m.output.dim, license: m.license };
}
