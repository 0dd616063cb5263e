/**
 * The OpenAPI document at /v1/openapi.json describes every route the app serves, and every
 * response has a description. (The standard validator, @apidevtools/swagger-parser, compiles
 * schemas with `new Function`, which workerd forbids: sdk/test/edge-e2e.test.ts runs it in Node
 * against the document served by `wrangler dev`.)
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { call } from './helpers.js';

type Operation = { responses: Record<string, { description?: string }> };
type Doc = { paths: Record<string, Record<string, Operation>> };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** The operations of a path item (not its shared `parameters`). */
const operations = (item: Record<string, Operation>) => Object.entries(item).filter(([m]) => METHODS.includes(m));

describe('the OpenAPI document', () => {
  it('every response has a description (OpenAPI requires one; 13 lacked it)', async () => {
    const doc = (await call('GET', '/v1/openapi.json')).body as Doc;
    const missing = Object.entries(doc.paths).flatMap(([path, ops]) =>
      operations(ops).flatMap(([method, op]) => Object.entries(op.responses).filter(([, r]) => !r.description).map(([status]) => `${method.toUpperCase()} ${path} ${status}`)),
    );
    expect(missing).toEqual([]);
  });

  it('lists exactly the routes the app serves, with their methods', async () => {
    const doc = (await call('GET', '/v1/openapi.json')).body as Doc;
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => operations(ops).map(([m]) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = [
      ...new Set(
        createApp()
          .routes.filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/\/$/, '')}`),
      ),
    ].sort();
    expect(served).toEqual(documented);
  });
});
