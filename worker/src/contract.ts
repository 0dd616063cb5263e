/**
 * The API's schemas, in zod: the routes validate request bodies with them, and openapi.ts writes
 * them, requests and responses, into /v1/openapi.json (zod's JSON Schema output), from which
 * `npm run api-types` generates the types the routes' responses (`satisfies`) and EdgeClient are
 * checked against. One definition per shape, so the document cannot say one thing and a route
 * check or answer another.
 *
 * Embedding matrices, texts and images are read by their own parsers (embeddings.ts,
 * backbones/raw-inputs.ts): a 16 × 1280 batch goes through a typed-array reader, not a schema
 * walk, and their limits come from the deployment's settings. Their schemas here describe them.
 * @module
 */
import { z } from 'zod';
import { badRequest } from './errors.js';

const positiveVersion = z.int().min(1).max(999_999_999);

/** Longest label an online example may have. */
export const MAX_LABEL_LENGTH = 200;

// Components: named in the document (#/components/schemas/…).

export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const Embeddings = z.union([
  z.array(z.array(z.number())),
  z.object({ base64: z.string().describe('little-endian float32, rows concatenated'), dim: z.int() }),
]);

export const Prediction = z.object({
  label: z.string().nullable(),
  nearest: z.string(),
  probability: z.number(),
  topK: z.array(z.object({ label: z.string(), probability: z.number() })),
  unknown: z.boolean(),
  distance: z.number(),
});

export const KeyInfo = z.object({ id: z.string(), scope: z.enum(['read', 'write']), createdAt: z.string() });

export const IssuedKey = z.object({
  id: z.string(),
  key: z.string(),
  scope: z.enum(['read', 'write']),
  tenant: z.string(),
  replaces: z.string().optional(),
});

export const VersionInfo = z.object({
  version: z.int(),
  kind: z.enum(['linear', 'knn', 'centroid']),
  dim: z.int(),
  labels: z.array(z.string()),
  sha256: z.string(),
  size: z.int().describe('the head file in bytes'),
  backbone: z.object({ id: z.string(), fingerprint: z.string().nullable() }).nullable(),
  createdAt: z.string(),
});

const Canary = z.object({ version: positiveVersion, weight: z.number().min(0).max(1) });

export const Alias = z.object({ alias: z.string(), version: z.int(), canary: Canary.nullable(), updatedAt: z.string() });

/**
 * An edgehead head file as `headToJson` writes it. Described here, checked by the SDK's
 * parseHead (tensors, checksums, limits), which reads the file the same way in every runtime.
 */
export const HeadFile = z
  .looseObject({
    format: z.literal('edgehead-head'),
    formatVersion: z.int(),
    kind: z.enum(['linear', 'knn', 'centroid']),
    labels: z.array(z.string()),
    dim: z.int(),
  })
  .describe('An edgehead head file (format "edgehead-head", formatVersion 1), as written by `edgehead fit` or headToJson.');

export const components = { Error: ErrorBody, Embeddings, Prediction, KeyInfo, IssuedKey, VersionInfo, Alias, HeadFile };

// Request bodies.

export const CreateTenantRequest = z.object({
  name: z.string().max(200).regex(/\S/, 'must not be blank').describe('a display name (trimmed)'),
});

export const CreateKeyRequest = z.object({
  scope: z.enum(['read', 'write']).nullable().default('read').describe('read (also for null): classify and list; write: also upload, alias, add examples'),
});

export const PutAliasRequest = z.object({
  version: positiveVersion,
  canary: Canary.nullable().optional().describe('a second version taking `weight` of classify traffic'),
});

export const RemoveExamplesRequest = z.object({
  ids: z.array(z.int().min(0)).min(1).describe('example ids returned when they were added'),
});

/** Fields of a classify body besides the batch itself. */
export const ClassifyOptions = z.object({
  fingerprint: z.string().optional().describe("the embedding backbone's fingerprint; a mismatch is 409"),
  topK: z.int().min(1).max(100).optional(),
  threshold: z.number().optional().describe("reject below this (the head's own gate by default)"),
  rejectUnknown: z.boolean().optional(),
});

/** The batch: exactly one of embeddings, inputs or images. */
export const InputBatch = z.object({
  embeddings: Embeddings.optional(),
  inputs: z.array(z.string()).optional().describe('Texts, for a head on a text backbone this deployment runs'),
  images: z.array(z.string().meta({ contentEncoding: 'base64' })).optional().describe('Base64 JPEG, PNG or WebP files, for a head on an image backbone this deployment runs'),
});

export const ClassifyRequest = InputBatch.extend(ClassifyOptions.shape);

export const AddExamplesRequest = InputBatch.extend({
  labels: z.array(z.string().min(1).max(MAX_LABEL_LENGTH)).describe('one label per example'),
});

// Response bodies (JSON Schema `output`: no fields beyond these).

export const Health = z.object({ ok: z.boolean() });
export const ServiceVersion = z.object({
  service: z.string(),
  version: z.string(),
  headFormatVersion: z.int(),
  limits: z
    .object({ maxBodyBytes: z.int(), maxBatch: z.int(), maxLabelLength: z.int().describe('characters in the label of an online example') })
    .describe("this deployment's request limits: a larger kNN head file is sent as a smaller file plus online examples"),
});
export const OpenApiDocument = z.looseObject({});
export const Tenant = z.object({ id: z.string(), name: z.string() });
export const KeyList = z.object({ keys: z.array(KeyInfo) });
export const OwnKeyList = z.object({ keys: z.array(KeyInfo.extend({ current: z.boolean().describe("the caller's key") })) });
export const Revoked = z.object({ revoked: z.string() });
export const Sealed = z.object({ sealed: z.int() });
export const HeadList = z.object({
  heads: z.array(z.object({ name: z.string(), latestVersion: z.int().nullable(), versions: z.int(), createdAt: z.string() })),
});
export const HeadDetails = z.object({ name: z.string(), versions: z.array(VersionInfo), aliases: z.array(Alias) });
export const HeadDeleted = z.object({ deleted: z.string(), versions: z.int() });
export const VersionCreated = VersionInfo.extend({ name: z.string(), alias: z.string().nullable() });
export const AliasSet = z.object({ name: z.string(), alias: z.string(), version: z.int(), canary: Canary.nullable() });
export const Deleted = z.object({ deleted: z.string() });
export const BackboneList = z.object({
  backbones: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      modality: z.enum(['image', 'text']),
      dim: z.int(),
      license: z.string(),
      ready: z.boolean().describe('All files uploaded'),
      missingFiles: z.array(z.string()),
      loadedInThisIsolate: z.boolean(),
    }),
  ),
});
export const BackboneFileStored = z.object({
  backbone: z.string(),
  file: z.string(),
  sha256: z.string(),
  size: z.int(),
  ready: z.boolean(),
  missingFiles: z.array(z.string()),
});
export const ClassifyResponse = z.object({ head: z.string(), version: z.int(), predictions: z.array(Prediction).describe('one per input, in order') });
const LabelShares = z.record(z.string(), z.number());
export const DriftResponse = z.object({
  head: z.string(),
  version: z.int(),
  windowSeconds: z.number(),
  windows: z.array(
    z.object({
      start: z.iso.datetime(),
      end: z.iso.datetime(),
      requests: z.int(),
      rows: z.int(),
      unknownRate: z.number(),
      labels: LabelShares,
    }),
  ),
  training: z.object({ labels: LabelShares }).nullable(),
  shift: z
    .object({
      mmd2: z.number(),
      pValue: z.number(),
      effect: z.number(),
      shifted: z.boolean(),
      referenceRows: z.int(),
      rows: z.int(),
      windows: z.int(),
    })
    .nullable(),
  note: z.string().optional(),
});
export const ExamplesAdded = z.object({ head: z.string(), version: z.int(), ids: z.array(z.int()), total: z.int() });
export const ExamplesRemoved = z.object({ head: z.string(), version: z.int(), removed: z.int() });

/**
 * The body checked against a schema: the parsed value, or 400 INVALID_FIELD naming the field and
 * what it must be. Unknown fields pass (clients may be newer than the deployment).
 */
export function validated<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? `"${issue.path.join('.')}"` : 'The body';
  throw badRequest('INVALID_FIELD', `${field}: ${issue.message}.`);
}

/** A schema as JSON Schema 2020-12 (what OpenAPI 3.1 uses), for request (`input`) or response (`output`) use. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
}
