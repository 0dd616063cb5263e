/** The OpenAPI 3.1 description served at /v1/openapi.json (written by hand, kept next to the routes). */
const error = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), { description: 'error', content: { 'application/json': { schema: error } } }]));
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const bearer = [{ apiKey: [] }];
const keyInfo = { type: 'object', properties: { id: { type: 'string' }, scope: { enum: ['read', 'write'] }, createdAt: { type: 'string' } } } as const;
const issuedKey = { type: 'object', properties: { id: { type: 'string' }, key: { type: 'string' }, scope: { enum: ['read', 'write'] }, tenant: { type: 'string' }, replaces: { type: 'string' } } } as const;

export const openapi = {
  openapi: '3.1.0',
  info: { title: 'edgehead edge API', version: '0.1.0', description: 'Stores classifier heads and applies them to embeddings.' },
  components: {
    securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key (read or write scope), or ADMIN_TOKEN for /v1/admin.' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      Embeddings: {
        oneOf: [
          { type: 'array', items: { type: 'array', items: { type: 'number' } } },
          { type: 'object', required: ['base64', 'dim'], properties: { base64: { type: 'string', description: 'little-endian float32, rows concatenated' }, dim: { type: 'integer' } } },
        ],
      },
      Prediction: {
        type: 'object',
        properties: {
          label: { type: ['string', 'null'] },
          nearest: { type: 'string' },
          probability: { type: 'number' },
          topK: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, probability: { type: 'number' } } } },
          unknown: { type: 'boolean' },
          distance: { type: 'number' },
        },
      },
      HeadFile: { type: 'object', description: 'An edgehead head file (format "edgehead-head", formatVersion 1).' },
    },
  },
  paths: {
    '/v1/health': { get: { summary: 'Liveness', responses: { '200': json({ type: 'object' }) } } },
    '/v1/version': { get: { summary: 'Service and head-format versions', responses: { '200': json({ type: 'object' }) } } },
    '/v1/admin/tenants': { post: { summary: 'Create a tenant', security: bearer, requestBody: json({ type: 'object', properties: { name: { type: 'string' } } }), responses: { '201': json({ type: 'object' }), ...errors(400, 401) } } },
    '/v1/admin/tenants/{id}/keys': {
      post: { summary: 'Create an API key (returned once, with its id)', security: bearer, requestBody: json({ type: 'object', properties: { scope: { enum: ['read', 'write'] } } }), responses: { '201': json(issuedKey), ...errors(400, 401, 404) } },
      get: { summary: "List a tenant's keys (ids and scopes, never the keys)", security: bearer, responses: { '200': json({ type: 'object', properties: { keys: { type: 'array', items: keyInfo } } }), ...errors(401, 404) } },
    },
    '/v1/admin/tenants/{id}/keys/{keyId}': { delete: { summary: 'Revoke a key (refused in every isolate within 2 s)', security: bearer, responses: { '200': json({ type: 'object', properties: { revoked: { type: 'string' } } }), ...errors(401, 404) } } },
    '/v1/admin/tenants/{id}/keys/{keyId}/rotate': { post: { summary: 'Replace a key by a new one with the same scope; the old one is revoked', security: bearer, responses: { '201': json(issuedKey), ...errors(401, 404) } } },
    '/v1/keys': { get: { summary: "List the caller's tenant's keys (write key); `current` marks the caller's", security: bearer, responses: { '200': json({ type: 'object', properties: { keys: { type: 'array', items: { ...keyInfo, properties: { ...keyInfo.properties, current: { type: 'boolean' } } } } } }), ...errors(401, 403) } } },
    '/v1/keys/{keyId}': { delete: { summary: 'Revoke one of your tenant\'s keys (write key)', security: bearer, responses: { '200': json({ type: 'object', properties: { revoked: { type: 'string' } } }), ...errors(401, 403, 404) } } },
    '/v1/keys/{keyId}/rotate': { post: { summary: 'Rotate one of your tenant\'s keys (write key)', security: bearer, responses: { '201': json(issuedKey), ...errors(401, 403, 404) } } },
    '/v1/heads': { get: { summary: 'List heads', security: bearer, responses: { '200': json({ type: 'object' }), ...errors(401) } } },
    '/v1/heads/{name}': {
      get: { summary: 'Versions and aliases of a head', security: bearer, responses: { '200': json({ type: 'object' }), ...errors(401, 404) } },
      delete: { summary: 'Delete a head with all versions', security: bearer, responses: { '200': json({ type: 'object' }), ...errors(401, 403, 404) } },
    },
    '/v1/heads/{name}/versions': {
      post: {
        summary: 'Upload a head file as the next immutable version',
        security: bearer,
        parameters: [{ name: 'alias', in: 'query', schema: { type: 'string' }, description: 'also point this alias at the new version' }],
        requestBody: json({ $ref: '#/components/schemas/HeadFile' }),
        responses: { '201': json({ type: 'object' }), ...errors(400, 401, 403, 413) },
      },
    },
    '/v1/heads/{name}/aliases/{alias}': {
      put: { summary: 'Point an alias at a version, optionally splitting traffic with a canary', security: bearer, requestBody: json({ type: 'object', required: ['version'], properties: { version: { type: 'integer' }, canary: { type: 'object', properties: { version: { type: 'integer' }, weight: { type: 'number' } } } } }), responses: { '200': json({ type: 'object' }), ...errors(400, 401, 403, 404) } },
      delete: { summary: 'Remove an alias', security: bearer, responses: { '200': json({ type: 'object' }), ...errors(401, 403, 404) } },
    },
    '/v1/heads/{ref}/classify': {
      post: {
        summary: 'Classify a batch of embeddings; ref is name, name@version or name@alias',
        security: bearer,
        requestBody: json({ type: 'object', required: ['embeddings'], properties: { embeddings: { $ref: '#/components/schemas/Embeddings' }, fingerprint: { type: 'string' }, topK: { type: 'integer' }, threshold: { type: 'number' }, rejectUnknown: { type: 'boolean' } } }),
        responses: { '200': json({ type: 'object', properties: { head: { type: 'string' }, version: { type: 'integer' }, predictions: { type: 'array', items: { $ref: '#/components/schemas/Prediction' } } } }), ...errors(400, 401, 404, 409, 413, 429) },
      },
    },
    '/v1/heads/{ref}/examples': {
      post: { summary: 'Add labelled embeddings to a kNN or centroid head (seen by the next classify)', security: bearer, requestBody: json({ type: 'object', required: ['embeddings', 'labels'], properties: { embeddings: { $ref: '#/components/schemas/Embeddings' }, labels: { type: 'array', items: { type: 'string' } } } }), responses: { '201': json({ type: 'object' }), ...errors(400, 401, 403, 404) } },
      delete: { summary: 'Remove online examples by id', security: bearer, requestBody: json({ type: 'object', required: ['ids'], properties: { ids: { type: 'array', items: { type: 'integer' } } } }), responses: { '200': json({ type: 'object' }), ...errors(400, 401, 403, 404) } },
    },
  },
} as const;
