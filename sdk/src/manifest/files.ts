/**
 * Getting a manifest's files as verified bytes. This part uses Web APIs only (fetch, Cache API,
 * WebCrypto); `files-node.ts` adds packages, the shared folder, local paths and a disk cache.
 * @module
 */
import { IntegrityError, NotFoundError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import type { Manifest, ManifestFile } from './manifest.js';

export type ModelFiles = Record<string, Uint8Array>;

export async function verifyBytes(label: string, bytes: Uint8Array, expectedSha256: string): Promise<void> {
  const actual = await sha256Hex(bytes);
  if (actual !== expectedSha256) throw new IntegrityError(label, expectedSha256, actual);
}

export interface FetchFilesOptions {
  /** Per file key, a URL to use instead of the manifest's (e.g. your own static host). */
  urls?: Record<string, string>;
  /** Cache API cache name; `false` disables caching. Default "edgehead-models". */
  cacheName?: string | false;
  fetch?: typeof fetch;
}

/** Browser/Worker loader: fetch each file by URL, keep it in the Cache API, verify its sha256. */
export async function fetchModelFiles(manifest: Manifest, options: FetchFilesOptions = {}): Promise<ModelFiles> {
  const out: ModelFiles = {};
  await Promise.all(
    Object.entries(manifest.files).map(async ([key, file]) => {
      const url = options.urls?.[key] ?? urlSourceOf(file);
      if (!url) {
        throw new NotFoundError(
          `Manifest "${manifest.id}" gives no URL for file "${key}"; pass options.urls["${key}"] pointing at where you host it.`,
        );
      }
      out[key] = await fetchVerified(`${manifest.id}/${key}`, url, file.sha256, options);
    }),
  );
  return out;
}

export function urlSourceOf(file: ManifestFile): string | undefined {
  for (const s of file.sources) if ('url' in s) return s.url;
  return undefined;
}

/** Fetches a URL (through the Cache API when present) and verifies it; a bad cache entry is evicted. */
export async function fetchVerified(
  label: string,
  url: string,
  sha256: string,
  options: Pick<FetchFilesOptions, 'cacheName' | 'fetch'> = {},
): Promise<Uint8Array> {
  const doFetch = options.fetch ?? fetch;
  const cache =
    options.cacheName !== false && typeof caches !== 'undefined' ? await caches.open(options.cacheName ?? 'edgehead-models') : undefined;
  const cached = await cache?.match(url);
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    if ((await sha256Hex(bytes)) === sha256) return bytes;
    await cache?.delete(url);
  }
  let response: Response;
  try {
    response = await doFetch(url);
  } catch (cause) {
    throw new NotFoundError(`Could not download ${label} from ${url} (${(cause as Error).message}). Check the network or use a local copy.`, { cause });
  }
  if (!response.ok) throw new NotFoundError(`Downloading ${label} from ${url} failed with HTTP ${response.status}.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  await verifyBytes(`${label} (${url})`, bytes, sha256);
  await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>));
  return bytes;
}
