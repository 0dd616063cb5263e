/** `edgehead serve`, `edgehead push`, `edgehead classify --remote`: the CLI side of the edge API. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { EdgeClient } from '../client/edge-client.js';
import { parseHead } from '../heads/format.js';
import { loadBackbone } from '../node.js';
import { decodeOptionsFor } from './inputs.js';
import { out, reportInputFailure, UsageError, warn } from './io.js';
import { streamEmbeddings } from './stream-embeddings.js';
import { bootstrapTenant, startLocalWorker } from './local-worker.js';

export const remoteHelp = `edgehead serve [--port 8787] [--persist-to dir] [--json]   run the edge worker locally (wrangler dev on 127.0.0.1);
                                                   prints an admin token and a write key for a new tenant
edgehead push head.json --name <name> [--alias prod] --url <worker> --key <write key>
edgehead classify --remote <name[@version|@alias]> --url <worker> --key <key> --backbone <id> <inputs...> [--json] [--batch 256]
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
    options: { remote: { type: 'string' }, backbone: { type: 'string', short: 'b' }, url: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' }, 'top-k': { type: 'string' }, batch: { type: 'string' } },
  });
  if (!values.remote || !values.backbone || positionals.length === 0) throw new UsageError('classify needs --remote <head>, --backbone <id> and inputs.');
  const { backbone, manifest } = await loadBackbone(values.backbone);
  try {
    const labels: string[] = [];
    const embeddings: Float32Array[] = [];
    let failures = 0;
    for await (const part of streamEmbeddings(backbone, manifest.modality, positionals, { decode: decodeOptionsFor(manifest) })) {
      for (const f of part.failed) reportInputFailure(f.input, f.error, values.json);
      failures += part.failed.length;
      labels.push(...part.labels);
      embeddings.push(...part.embeddings);
    }
    // The API takes at most MAX_BATCH rows per call (256 by default): larger input sets go in
    // consecutive calls; each answer line says which version answered it.
    const batch = values.batch ? Number(values.batch) : 256;
    if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be a positive integer, not "${values.batch}".`);
    const api = client(values);
    const topK = values['top-k'] ? Number(values['top-k']) : undefined;
    let offset = 0;
    for (let start = 0; start < embeddings.length; start += batch) {
      const result = await api.classify(values.remote, embeddings.slice(start, start + batch), { fingerprint: backbone.fingerprint, topK });
      if (!values.json && start === 0) warn(`answered by ${result.head} version ${result.version}`);
      for (const p of result.predictions) {
        const label = labels[offset++];
        if (values.json) out(JSON.stringify({ input: label, version: result.version, ...p }));
        else out(`${label}\t${p.unknown ? `unknown (nearest: ${p.nearest})` : p.label}\t${p.probability.toFixed(3)}`);
      }
    }
    return failures ? 1 : 0;
  } finally {
    await backbone.dispose();
  }
}
