/** `edgehead serve`, `edgehead push`, `edgehead classify --remote`: the CLI side of the edge API. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { EdgeClient } from '../client/edge-client.js';
import { parseHead } from '../heads/format.js';
import { loadBackbone } from '../node.js';
import { decodeOptionsFor, expandInputs } from './inputs.js';
import { numberFlag, out, reportInputFailure, UsageError, warn } from './io.js';
import { isEmbedded, streamEmbeddings } from './stream-embeddings.js';
import { bootstrapTenant, startLocalWorker } from './local-worker.js';

export const remoteHelp = `edgehead serve [--port 8787] [--persist-to dir] [--json]   run the edge worker locally (wrangler dev on 127.0.0.1);
                                                   prints an admin token and a write key for a new tenant
edgehead push head.json --name <name> [--alias prod] --url <worker> --key <write key>
edgehead classify --remote <name[@version|@alias]> --url <worker> --key <key> --backbone <id> <inputs...> [--json] [--batch 256] [--top-k n] [--no-cache]
  Embeds locally (files, folders, @list.txt, sentences; cached on disk by content unless --no-cache)
  and sends the embeddings in calls of --batch rows, printing each call's answers as they come.
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
    options: { name: { type: 'string' }, alias: { type: 'string' }, url: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } },
  });
  const path = positionals[0];
  if (!path || !values.name) throw new UsageError('push needs a head file and --name.');
  const text = await readFile(path, 'utf8');
  parseHead(text); // refuse a bad file before sending it
  const info = await client(values).upload(values.name, text, { alias: values.alias });
  if (values.json) out(JSON.stringify(info));
  else out(`pushed ${path} as ${info.name} version ${info.version}${info.alias ? ` (alias ${info.alias})` : ''}: ${info.kind}, ${info.labels.length} labels, ${info.dim}-d`);
  return 0;
}

export async function classifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { remote: { type: 'string' }, backbone: { type: 'string', short: 'b' }, url: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' }, 'top-k': { type: 'string' }, batch: { type: 'string' }, 'no-cache': { type: 'boolean' } },
  });
  if (!values.remote || !values.backbone || positionals.length === 0) throw new UsageError('classify needs --remote <head>, --backbone <id> and inputs.');
  // The API takes at most MAX_BATCH rows per call (256 by default): inputs stream through in
  // calls of --batch rows, each answered as soon as it returns; each line says which version answered.
  const batch = numberFlag('batch', values.batch, { min: 1, integer: true }) ?? 256;
  const topK = numberFlag('top-k', values['top-k'], { min: 1, integer: true });
  const { backbone, manifest } = await loadBackbone(values.backbone);
  try {
    const api = client(values);
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
