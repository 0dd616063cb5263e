/**
 * Heads: upload versions, list, metadata, aliases (with weighted canaries), delete, classify,
 * examples, drift. Each route reads and validates its request and answers; the work is in
 * services/.
 */
import type { EdgeApiBody as Body } from 'edgehead';
import { Hono, type Context } from 'hono';
import { requireKey } from '../auth.js';
import { embeddingsFor, readInputBody } from '../backbones/raw-inputs.js';
import { AddExamplesRequest, ClassifyOptions, PutAliasRequest, RemoveExamplesRequest, validated } from '../contract.js';
import type { AppEnv } from '../env.js';
import { badRequest } from '../errors.js';
import { ALIAS_PATTERN, headName, readJsonObject, readJsonText } from '../request.js';
import { assertFingerprint, classifyRows, driftOf } from '../services/classify.js';
import { addExamples, assertTakesExamples, removeExamples } from '../services/examples.js';
import { deleteAlias, deleteHead, headDetails, listHeads, resolveRef, setAlias, uploadVersion } from '../services/versions.js';

export const heads = new Hono<AppEnv>();

const tenant = (c: Context<AppEnv>) => c.get('principal').tenantId;

function aliasName(raw: string): string {
  if (!ALIAS_PATTERN.test(raw)) throw badRequest('INVALID_ALIAS', `Alias "${raw}" is invalid: lower-case letters, digits, "_" or "-", starting with a letter.`);
  return raw;
}

/** Keeps the Worker alive for `work` after the answer; without an execution context (app.request), it simply runs on. */
function afterResponse(c: Context<AppEnv>): (work: Promise<unknown>) => void {
  let ctx: ExecutionContext | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Hono throws when the app was called without one.
  }
  return (work) => ctx?.waitUntil(work);
}

heads.post('/:name/versions', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  const alias = c.req.query('alias');
  if (alias !== undefined) aliasName(alias);
  const created = await uploadVersion(c.env, tenant(c), name, alias, await readJsonText(c));
  return c.json(created satisfies Body<'/v1/heads/{name}/versions', 'post', 201>, 201);
});

heads.get('/', requireKey('read'), async (c) => c.json((await listHeads(c.env, tenant(c))) satisfies Body<'/v1/heads', 'get', 200>));

heads.get('/:name', requireKey('read'), async (c) =>
  c.json((await headDetails(c.env, tenant(c), headName(c.req.param('name')))) satisfies Body<'/v1/heads/{name}', 'get', 200>),
);

heads.delete('/:name', requireKey('write'), async (c) =>
  c.json((await deleteHead(c.env, tenant(c), headName(c.req.param('name')))) satisfies Body<'/v1/heads/{name}', 'delete', 200>),
);

heads.put('/:name/aliases/:alias', requireKey('write'), async (c) => {
  const name = headName(c.req.param('name'));
  const alias = aliasName(c.req.param('alias'));
  const { version, canary } = validated(PutAliasRequest, await readJsonObject(c));
  return c.json((await setAlias(c.env, tenant(c), name, alias, version, canary ?? null)) satisfies Body<'/v1/heads/{name}/aliases/{alias}', 'put', 200>);
});

heads.delete('/:name/aliases/:alias', requireKey('write'), async (c) =>
  c.json((await deleteAlias(c.env, tenant(c), headName(c.req.param('name')), c.req.param('alias'))) satisfies Body<'/v1/heads/{name}/aliases/{alias}', 'delete', 200>),
);

heads.post('/:ref/classify', requireKey('read'), async (c) => {
  const input = await readInputBody(c);
  const { fingerprint, ...options } = validated(ClassifyOptions, input.fields);
  const row = await resolveRef(c.env, tenant(c), c.req.param('ref'));
  assertFingerprint(row, fingerprint);
  const embeddings = await embeddingsFor(c, row, input);
  const predictions = await classifyRows(c.env, row, embeddings, options, afterResponse(c));
  return c.json({ head: row.name, version: row.version, predictions } satisfies Body<'/v1/heads/{ref}/classify', 'post', 200>);
});

heads.get('/:ref/drift', requireKey('read'), async (c) => {
  // An alias reports on its main version (never a randomly chosen canary).
  const row = await resolveRef(c.env, tenant(c), c.req.param('ref'), { for: 'write' });
  return c.json((await driftOf(c.env, row, c.req.query('windows'))) satisfies Body<'/v1/heads/{ref}/drift', 'get', 200>);
});

heads.post('/:ref/examples', requireKey('write'), async (c) => {
  const input = await readInputBody(c);
  const { labels } = validated(AddExamplesRequest.pick({ labels: true }), input.fields);
  const row = await resolveRef(c.env, tenant(c), c.req.param('ref'), { for: 'write' });
  assertTakesExamples(row);
  const embeddings = await embeddingsFor(c, row, input, { expectedCount: labels.length });
  return c.json((await addExamples(c.env, row, embeddings, labels)) satisfies Body<'/v1/heads/{ref}/examples', 'post', 201>, 201);
});

heads.delete('/:ref/examples', requireKey('write'), async (c) => {
  const { ids } = validated(RemoveExamplesRequest, await readJsonObject(c));
  const row = await resolveRef(c.env, tenant(c), c.req.param('ref'), { for: 'write' });
  assertTakesExamples(row);
  return c.json((await removeExamples(c.env, row, ids)) satisfies Body<'/v1/heads/{ref}/examples', 'delete', 200>);
});
