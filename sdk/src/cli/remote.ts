/** `edgehead serve`, `edgehead push`, `edgehead classify --remote`: the CLI side of the edge API. */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { EdgeApiError, EdgeClient, type BackboneFileInfo, type ClassifyResult } from '../client/edge-client.js';
import { EdgeheadError, InvalidInputError } from '../core/errors.js';
import { parseHead } from '../heads/format.js';
import { loadModelFilesNode } from '../manifest/files-node.js';
import type { Manifest } from '../manifest/manifest.js';
import { loadBackbone, resolveManifest } from '../node.js';
import { readInputFile } from '../inputs/read-file.js';
import { imageForUpload } from '../inputs/image/decode-node.js';
import { decodeSizeFor } from '../inputs/image/image.js';
import { decodeOptionsFor, expandInputs } from './inputs.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';
import { bootstrapTenant, startLocalWorker } from './local-worker.js';

export const remoteHelp = `edgehead serve [--port 8787] [--persist-to dir] [--json]   run the edge worker locally (wrangler dev on 127.0.0.1);
                                                   prints an admin token and a write key for a new tenant
edgehead push head.json --name <name> [--alias prod] --url <worker> --key <write key>
edgehead push --backbone <id> --url <worker> --key <admin token>
  Uploads a backbone's files (checked against its manifest) so the worker runs it for raw inputs.
edgehead classify --remote <name[@version|@alias]> --url <worker> --key <key> [--backbone <id>] <inputs...> [--json] [--batch 256] [--top-k n] [--no-cache] [--embed-locally]
  The backbone is the head's own (read from the worker); --backbone checks it, or names it when it cannot be read.
  When the worker runs the backbone (GET /v1/backbones), sends the raw texts or image files
  (16 per call; photos larger than the model needs are first reduced here, losslessly encoded)
  and the worker embeds them. Otherwise, or with --embed-locally, embeds here (files,
  folders, @list.txt, sentences; cached on disk by content unless --no-cache) and sends the
  embeddings in calls of --batch rows. Answers print as each call returns.
  --url/--key default to $EDGEHEAD_URL / $EDGEHEAD_KEY.`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, 'persist-to': { type: 'string' }, json: { type: 'boolean' } } });
  const worker = await startLocalWorker({ port: values.port ? Number(values.port) : 8787, persistTo: values['persist-to'] ?? '.wrangler/state', inheritOutput: !values.json });
  const keys = await bootstrapTenant(worker.url, worker.adminToken);
  if (values.json) out(JSON.stringify({ url: worker.url, adminToken: worker.adminToken, ...keys }));
  else out(`edgehead worker on ${worker.url}`);
  if (!values.json) {
    out(`  admin token: ${worker.adminToken}`);
    out(`  tenant ${keys.tenant}: write key ${keys.writeKey}`);
    out(`                 read key  ${keys.readKey}`);
    out(`  export EDGEHEAD_URL=${worker.url} EDGEHEAD_KEY=${keys.writeKey}`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await worker.stop();
  return 0;
}

function client(values: { url?: string; key?: string }): EdgeClient {
  const baseUrl = values.url ?? process.env.EDGEHEAD_URL;
  const apiKey = values.key ?? process.env.EDGEHEAD_KEY;
  if (!baseUrl || !apiKey) throw new UsageError('give --url and --key (or set EDGEHEAD_URL and EDGEHEAD_KEY); `edgehead serve` prints both.');
  return new EdgeClient({ baseUrl, apiKey });
}

export async function pushCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, alias: { type: 'string' }, url: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' }, backbone: { type: 'string' } },
  });
  if (values.backbone) return pushBackbone(values.backbone, client(values), !!values.json);
  const path = positionals[0];
  if (!path || !values.name) throw new UsageError('push needs a head file and --name.');
  const text = await readFile(path, 'utf8');
  parseHead(text); // refuse a bad file before sending it
  const info = await client(values).upload(values.name, text, { alias: values.alias });
  if (values.json) out(JSON.stringify(info));
  else out(`pushed ${path} as ${info.name} version ${info.version}${info.alias ? ` (alias ${info.alias})` : ''}: ${info.kind}, ${info.labels.length} labels, ${info.dim}-d`);
  return 0;
}

/**
 * Uploads every file of a backbone's manifest through the admin route (the client's key is the
 * ADMIN_TOKEN), reporting each stored file; the answer to the last upload says whether it is ready.
 */
export async function uploadBackbone(api: EdgeClient, manifest: Manifest, onFile?: (info: BackboneFileInfo, bytes: number) => void): Promise<BackboneFileInfo | undefined> {
  let last: BackboneFileInfo | undefined;
  for (const [name, bytes] of Object.entries(await loadModelFilesNode(manifest))) {
    last = await api.uploadBackboneFile(manifest.id, name, bytes);
    onFile?.(last, bytes.length);
  }
  return last;
}

async function pushBackbone(id: string, api: EdgeClient, json: boolean): Promise<number> {
  const manifest = await resolveManifest(id);
  const last = await uploadBackbone(api, manifest, (info, size) =>
    out(json ? JSON.stringify(info) : `pushed ${manifest.id}/${info.file} (${size} bytes, sha256 ${info.sha256.slice(0, 12)}…)`),
  );
  if (!json && last) out(last.ready ? `${manifest.id} is ready: heads on it now take raw inputs.` : `${manifest.id} still misses ${last.missingFiles.join(', ')}.`);
  return 0;
}

/** The worker's answers that blame one input (the others in its call are fine). */
const INPUT_ERRORS = new Set(['UNREADABLE_IMAGE', 'INVALID_IMAGE', 'IMAGE_TOO_LARGE', 'EMPTY_TEXT', 'TEXT_TOO_LONG']);

/** Raw inputs per call: well under the worker's MAX_RAW_BATCH (32 by default). */
const RAW_BATCH = 16;

export async function classifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      remote: { type: 'string' },
      backbone: { type: 'string', short: 'b' },
      url: { type: 'string' },
      key: { type: 'string' },
      json: { type: 'boolean' },
      'top-k': { type: 'string' },
      batch: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'embed-locally': { type: 'boolean' },
    },
  });
  if (!values.remote || positionals.length === 0) throw new UsageError('classify needs --remote <head> and inputs.');
  // The API takes at most MAX_BATCH rows per call (256 by default): inputs stream through in
  // calls of --batch rows, each answered as soon as it returns; each line says which version answered.
  const batch = numberFlag('batch', values.batch, { min: 1, integer: true }) ?? 256;
  const topK = numberFlag('top-k', values['top-k'], { min: 1, integer: true });
  const api = client(values);
  // The head knows its backbone: --backbone is only a check (or needed when the head cannot be read).
  const fitted = await headBackbone(api, values.remote);
  const backboneId = values.backbone ?? fitted;
  if (!backboneId) throw new UsageError(`give --backbone <id>: the backbone of ${values.remote} could not be read from the worker.`);
  const chosen = await resolveManifest(backboneId);
  if (fitted && values.backbone && fitted !== values.backbone && fitted !== chosen.id) {
    throw new UsageError(`--backbone ${values.backbone}, but ${values.remote} was fitted on ${fitted}; drop --backbone or pass that one.`);
  }
  // Raw inputs only for a head that names its backbone (the worker embeds with that one).
  if (!values['embed-locally'] && fitted && (await servesBackbone(api, chosen))) {
    return classifyRaw(api, values.remote, chosen, positionals, { topK, json: !!values.json, batch: Math.min(batch, RAW_BATCH) });
  }
  const { backbone, manifest } = await loadBackbone(backboneId);
  try {
    let failures = 0;
    let announced = false;
    for await (const part of streamEmbeddings(backbone, manifest.modality, await expandInputs(manifest.modality, positionals), { size: batch, cache: !values['no-cache'], decode: decodeOptionsFor(manifest) })) {
      const embedded = part.items.filter(isEmbedded);
      const result = embedded.length ? await api.classify(values.remote, embedded.map((e) => e.embedding), { fingerprint: backbone.fingerprint, topK }) : undefined;
      if (result && !values.json && !announced) {
        warn(`answered by ${result.head} version ${result.version}`);
        announced = true;
      }
      let k = 0;
      // In input order; an unreadable input's error line takes its place.
      for (const item of part.items) {
        if (!isEmbedded(item)) {
          reportInputFailure(item.input, item.error, values.json);
          failures++;
          continue;
        }
        const p = result!.predictions[k++];
        if (values.json) out(JSON.stringify({ input: item.input, version: result!.version, ...p }));
        else out(`${item.input}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}`);
      }
    }
    return failures ? 1 : 0;
  } finally {
    await backbone.dispose();
  }
}

/** The backbone id of the version `ref` (name, name@version, name@alias) answers with; undefined when unknown. */
async function headBackbone(api: EdgeClient, ref: string): Promise<string | undefined> {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const selector = at < 0 ? undefined : ref.slice(at + 1);
  try {
    const { versions, aliases } = await api.get(name);
    const version =
      selector === undefined ? Math.max(...versions.map((v) => v.version)) : /^\d+$/.test(selector) ? Number(selector) : aliases.find((a) => a.alias === selector)?.version;
    return versions.find((v) => v.version === version)?.backbone?.id ?? undefined;
  } catch (e) {
    // A missing head is reported by the classify call itself; anything else (a bad key, a server error) now.
    if (e instanceof EdgeApiError && e.status === 404) return undefined;
    throw e;
  }
}

/** Whether the worker runs this backbone with all its files uploaded (an older worker: no). */
async function servesBackbone(api: EdgeClient, manifest: Manifest): Promise<boolean> {
  if (manifest.modality !== 'image' && manifest.modality !== 'text') return false;
  try {
    const { backbones } = await api.backbones();
    return backbones.some((b) => b.id === manifest.id && b.ready);
  } catch (e) {
    if (e instanceof EdgeApiError && e.status === 404) return false; // a worker from before raw inputs
    throw e;
  }
}

/** Sends texts or image files as they are; the worker embeds them with the head's backbone. */
async function classifyRaw(api: EdgeClient, ref: string, manifest: Manifest, args: string[], options: { topK?: number; json: boolean; batch: number }): Promise<number> {
  const inputs = await expandInputs(manifest.modality, args);
  let announced = false;
  let failures = 0;
  const reported = new Set<string>();
  const fail = (input: string, error: EdgeheadError) => {
    if (reported.has(input)) return; // a retried call meets the same unreadable file again
    reported.add(input);
    reportInputFailure(input, error, options.json);
    failures++;
  };
  /** The call's body for these inputs. Image files are read, reduced or converted here first. */
  const bodyOf = async (part: string[]): Promise<{ sent: string[]; body: { inputs: string[] } | { images: File[] } }> => {
    if (manifest.modality !== 'image') return { sent: part, body: { inputs: part } };
    const sent: string[] = [];
    const images: File[] = [];
    for (const path of part) {
      try {
        images.push(new File([(await imageForUpload(await readInputFile(path), decodeSizeFor(manifest.input.image), path)) as BlobPart], basename(path)));
        sent.push(path);
      } catch (e) {
        if (!(e instanceof EdgeheadError)) throw e;
        fail(path, e);
      }
    }
    return { sent, body: { images } };
  };
  const send = async (part: string[]) => {
    const { sent, body } = await bodyOf(part);
    return { sent, result: sent.length ? await api.classify(ref, body, { topK: options.topK }) : undefined };
  };
  for (let i = 0; i < inputs.length; i += options.batch) {
    const part = inputs.slice(i, i + options.batch);
    let answers: Array<{ input: string; result: ClassifyResult; k: number }>;
    try {
      const { sent, result } = await send(part);
      answers = result ? sent.map((input, k) => ({ input, result, k })) : [];
    } catch (e) {
      // One bad input (an unreadable or oversized image, an empty line) refuses the whole call:
      // send the inputs one by one so the others are answered and the bad one is named.
      if (!(e instanceof EdgeApiError) || !INPUT_ERRORS.has(e.code)) throw e;
      answers = [];
      for (const input of part) {
        try {
          const { result } = await send([input]);
          if (result) answers.push({ input, result, k: 0 });
        } catch (one) {
          if (!(one instanceof EdgeApiError) || !INPUT_ERRORS.has(one.code)) throw one;
          fail(input, new InvalidInputError(`${input}: ${one.message}`));
        }
      }
    }
    for (const { input, result, k } of answers) {
      if (!options.json && !announced) {
        warn(`answered by ${result.head} version ${result.version} (embedded by the worker with ${manifest.id})`);
        announced = true;
      }
      const p = result.predictions[k];
      if (options.json) out(JSON.stringify({ input, version: result.version, ...p }));
      else out(`${input}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}`);
    }
  }
  return failures ? 1 : 0;
}
