/**
 * The OpenAPI 3.1 description served at /v1/openapi.json. Every JSON body, request and response,
 * is contract.ts's zod schema (the routes validate requests with the same ones); paths,
 * statuses, summaries and the multipart and binary bodies are written here, next to the routes.
 */
import type { z } from 'zod';
import * as api from './contract.js';
import { jsonSchema } from './contract.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = ref('Error');
/** What each error status means here; the body's `code` says exactly what went wrong. */
const ERROR_MEANING: Record<number, string> = {
  400: 'The request is invalid; `error.code` and `error.message` say what to fix',
  401: 'Missing or invalid API key (or admin token)',
  403: 'The key lacks the scope (a read key on a write route)',
  404: 'No such tenant, head, version, alias or key',
  409: 'Conflicts with the stored state (another backbone fingerprint; the head version is full)',
  413: 'The body or the head is over a limit (BODY_TOO_LARGE, HEAD_TOO_LARGE)',
  429: 'Rate limited; slow down and retry',
  500: 'Stored state failed an integrity check (STORAGE_CORRUPT) or the server failed',
  503: 'Storage unavailable or busy, database not migrated, or admin routes switched off; retry or fix the deployment',
};
const ALWAYS = [429, 500, 503];
const errors = (...codes: number[]) =>
  Object.fromEntries([...new Set([...codes, ...ALWAYS])].map((c) => [String(c), { description: ERROR_MEANING[c], content: { 'application/json': { schema: error } } }]));
/** A JSON response or request body; OpenAPI requires every response to have a description. */
const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema: jsonSchema(schema, 'output') } } });
const body = (schema: z.ZodType) => ({ required: true, content: { 'application/json': { schema: jsonSchema(schema, 'input') } } });
const param = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description });
/**
 * classify/examples bodies: embeddings, or raw inputs this deployment embeds with the head's own
 * backbone (GET /v1/backbones), as JSON or as multipart/form-data with image files. The form's
 * text fields are the JSON body's other fields, from the same schema.
 */
const inputBody = (request: typeof api.ClassifyRequest | typeof api.AddExamplesRequest) => {
  const schema = jsonSchema(request, 'input') as { properties: Record<string, object> };
  const { embeddings: _matrix, images: _base64, inputs, ...fields } = schema.properties;
  return {
    required: true,
    content: {
      'application/json': { schema: { ...schema, description: 'Exactly one of embeddings, inputs or images.' } },
      'multipart/form-data': {
        schema: {
          type: 'object',
          description: 'Image files (any field name, in order), or repeated `inputs` text fields; other fields as text (`labels` repeated, one per example).',
          properties: { image: { type: 'array', items: { type: 'string', contentMediaType: 'application/octet-stream' } }, inputs, ...fields },
        },
      },
    },
  };
};
const bearer = [{ apiKey: [] }];

/** The document, built on first request rather than at every isolate's start. */
export function openapiDocument() {
  return (built ??= build());
}

let built: ReturnType<typeof build> | undefined;

function build() {
  return {
    openapi: '3.1.0',
    info: { title: 'edgehead edge API', version: '0.1.0', description: 'Stores classifier heads and applies them to embeddings, or to raw texts and images for heads on a backbone the deployment runs.' },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key (read or write scope), or ADMIN_TOKEN for /v1/admin.' } },
      schemas: {
        ...Object.fromEntries(Object.entries(api.components).map(([name, schema]) => [name, jsonSchema(schema, 'input')])),
      },
    },
    paths: {
      '/v1/health': { get: { summary: 'Liveness', responses: { '200': json(api.Health, 'The worker is up') } } },
      '/v1/version': {
        get: {
          summary: 'Service and head-format versions',
          responses: { '200': json(api.ServiceVersion, 'Versions') },
        },
      },
      '/v1/openapi.json': { get: { summary: 'This document', responses: { '200': json(api.OpenApiDocument, 'The OpenAPI document') } } },
      '/v1/admin/tenants': {
        post: {
          summary: 'Create a tenant',
          security: bearer,
          requestBody: body(api.CreateTenantRequest),
          responses: { '201': json(api.Tenant, 'The new tenant'), ...errors(400, 401) },
        },
      },
      '/v1/admin/tenants/{id}/keys': {
        parameters: [param('id', 'Tenant id')],
        post: { summary: 'Create an API key (returned once, with its id)', security: bearer, requestBody: body(api.CreateKeyRequest), responses: { '201': json(api.IssuedKey, 'The key, shown once'), ...errors(400, 401, 404) } },
        get: { summary: "List a tenant's keys (ids and scopes, never the keys)", security: bearer, responses: { '200': json(api.KeyList, 'The keys'), ...errors(401, 404) } },
      },
      '/v1/admin/tenants/{id}/keys/{keyId}': {
        parameters: [param('id', 'Tenant id'), param('keyId', 'Key id (k_…)')],
        delete: { summary: 'Revoke a key (refused in every isolate within 2 s)', security: bearer, responses: { '200': json(api.Revoked, 'Revoked'), ...errors(401, 404) } },
      },
      '/v1/admin/tenants/{id}/keys/{keyId}/rotate': {
        parameters: [param('id', 'Tenant id'), param('keyId', 'Key id (k_…)')],
        post: { summary: 'Replace a key by a new one with the same scope; the old one is revoked', security: bearer, responses: { '201': json(api.IssuedKey, 'The new key, shown once'), ...errors(401, 404) } },
      },
      '/v1/admin/seal-versions': {
        post: {
          summary: 'Seal version rows written before seals existed (or every row, after INTEGRITY_KEY changed)',
          security: bearer,
          parameters: [{ name: 'all', in: 'query', required: false, schema: { enum: ['true', 'false'] }, description: 'reseal every row, not only unsealed ones' }],
          responses: { '200': json(api.Sealed, 'How many rows were sealed'), ...errors(401) },
        },
      },
      '/v1/keys': {
        get: {
          summary: "List the caller's tenant's keys (write key); `current` marks the caller's",
          security: bearer,
          responses: { '200': json(api.OwnKeyList, 'The keys'), ...errors(401, 403) },
        },
      },
      '/v1/keys/{keyId}': { parameters: [param('keyId', 'Key id (k_…)')], delete: { summary: "Revoke one of your tenant's keys (write key)", security: bearer, responses: { '200': json(api.Revoked, 'Revoked'), ...errors(401, 403, 404) } } },
      '/v1/keys/{keyId}/rotate': { parameters: [param('keyId', 'Key id (k_…)')], post: { summary: "Rotate one of your tenant's keys (write key)", security: bearer, responses: { '201': json(api.IssuedKey, 'The new key, shown once'), ...errors(401, 403, 404) } } },
      '/v1/heads': {
        get: {
          summary: 'List heads',
          security: bearer,
          responses: {
            '200': json(api.HeadList, "The tenant's heads"),
            ...errors(401),
          },
        },
      },
      '/v1/heads/{name}': {
        parameters: [param('name', 'Head name')],
        get: {
          summary: 'Versions and aliases of a head',
          security: bearer,
          responses: {
            '200': json(api.HeadDetails, 'The head'),
            ...errors(401, 404),
          },
        },
        delete: {
          summary: 'Delete a head with all versions, aliases, files and online examples',
          security: bearer,
          responses: { '200': json(api.HeadDeleted, 'Deleted'), ...errors(401, 403, 404) },
        },
      },
      '/v1/heads/{name}/versions': {
        parameters: [param('name', 'Head name')],
        post: {
          summary: 'Upload a head file as the next immutable version',
          security: bearer,
          parameters: [{ name: 'alias', in: 'query', required: false, schema: { type: 'string' }, description: 'also point this alias at the new version' }],
          requestBody: body(api.HeadFile),
          responses: { '201': json(api.VersionCreated, 'The new version'), ...errors(400, 401, 403, 413) },
        },
      },
      '/v1/heads/{name}/aliases/{alias}': {
        parameters: [param('name', 'Head name'), param('alias', 'Alias (lower-case)')],
        put: {
          summary: 'Point an alias at a version, optionally splitting traffic with a canary',
          security: bearer,
          requestBody: body(api.PutAliasRequest),
          responses: {
            '200': json(api.AliasSet, 'The alias'),
            ...errors(400, 401, 403, 404),
          },
        },
        delete: { summary: 'Remove an alias', security: bearer, responses: { '200': json(api.Deleted, 'Removed'), ...errors(401, 403, 404) } },
      },
      '/v1/backbones': {
        get: {
          summary: 'The backbones this deployment runs, so heads on them take raw texts or images',
          security: bearer,
          responses: {
            '200': json(api.BackboneList, 'Served backbones'),
            ...errors(401),
          },
        },
      },
      '/v1/admin/backbones/{id}/files/{name}': {
        parameters: [param('id', 'a backbone id from GET /v1/backbones'), param('name', "one of the backbone manifest's files")],
        put: {
          summary: "Upload one file of a served backbone (checked against its manifest's sha256 and size); `edgehead push --backbone` does this for every file",
          security: bearer,
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
          responses: {
            '201': json(api.BackboneFileStored, 'Stored'),
            ...errors(400, 401, 413),
          },
        },
      },
      '/v1/heads/{ref}/classify': {
        parameters: [param('ref', 'name, name@version or name@alias')],
        post: {
          summary: 'Classify a batch of embeddings, texts or images',
          security: bearer,
          requestBody: inputBody(api.ClassifyRequest),
          responses: {
            '200': json(api.ClassifyResponse, 'One prediction per input'),
            ...errors(400, 401, 404, 409, 413),
          },
        },
      },
      '/v1/heads/{ref}/drift': {
        parameters: [param('ref', 'name, name@version or name@alias (its main version, never the canary)')],
        get: {
          summary: 'Drift: per time window, rows classified, predicted-label shares and unknown rate; and an MMD shift test of the newest windows against the training sample the head file keeps (fit --keep-reference)',
          security: bearer,
          parameters: [{ name: 'windows', in: 'query', required: false, description: 'How many of the newest windows with data to pool for the shift test (default 1)', schema: { type: 'integer', minimum: 1 } }],
          responses: {
            '200': json(api.DriftResponse, 'Drift statistics, newest window first'),
            ...errors(400, 401, 404),
          },
        },
      },
      '/v1/heads/{ref}/examples': {
        parameters: [param('ref', 'name, name@version or name@alias (its main version, never the canary)')],
        post: {
          summary: 'Add labelled examples (embeddings, texts or images) to a kNN or centroid head (seen by the next classify)',
          security: bearer,
          requestBody: inputBody(api.AddExamplesRequest),
          responses: {
            '201': json(api.ExamplesAdded, "The new examples' ids"),
            ...errors(400, 401, 403, 404, 409, 413),
          },
        },
        delete: {
          summary: 'Remove online examples by id',
          security: bearer,
          requestBody: body(api.RemoveExamplesRequest),
          responses: { '200': json(api.ExamplesRemoved, 'Removed'), ...errors(400, 401, 403, 404) },
        },
      },
    },
  } as const;
}
