import { SELF } from 'cloudflare:test';
import { CentroidHead, KnnHead, LinearHead, headToJson } from 'edgehead/heads';
import { toyData } from './toy-data.js';

export const ADMIN = 'test-admin-token-9f2c1e7a4b8d0356e1f4a2c9';
export const FINGERPRINT = 'sha256:test-backbone';

export async function call(method: string, path: string, options: { key?: string; body?: unknown; raw?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const res = await SELF.fetch(`https://edge.test${path}`, {
    method,
    headers,
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  return readResponse(res);
}

/** Status and body (parsed JSON, or the raw text when it is not JSON). */
export async function readResponse(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** A tenant with one write and one read key. */
export async function tenant(name = 'acme'): Promise<{ id: string; write: string; read: string }> {
  const t = await call('POST', '/v1/admin/tenants', { key: ADMIN, body: { name } });
  const w = await call('POST', `/v1/admin/tenants/${t.body.id}/keys`, { key: ADMIN, body: { scope: 'write' } });
  const r = await call('POST', `/v1/admin/tenants/${t.body.id}/keys`, { key: ADMIN, body: { scope: 'read' } });
  return { id: t.body.id, write: w.body.key, read: r.body.key };
}

export function headFile(kind: 'linear' | 'knn' | 'centroid', backbone = { id: 'toy', fingerprint: FINGERPRINT }): string {
  const { x, y } = toyData();
  const head = kind === 'linear' ? LinearHead.fit(x, y, { C: 10 }) : kind === 'knn' ? KnnHead.fit(x, y, { k: 3 }) : CentroidHead.fit(x, y);
  return headToJson(head, { backbone });
}

export async function upload(key: string, name: string, text: string, alias?: string) {
  return call('POST', `/v1/heads/${name}/versions${alias ? `?alias=${alias}` : ''}`, { key, raw: text });
}

/** Every error response must have this shape. */
export function isErrorBody(body: unknown): boolean {
  const e = (body as { error?: { code?: unknown; message?: unknown } })?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string' && e.message.length > 0;
}

/**
 * Waits, if need be, until a fixed one-minute rate-limit window has at least `room` ms left, so
 * that a sequence checking exact 401/429 answers cannot straddle two windows (the local limiter
 * counts per minute of the clock).
 */
export async function freshMinute(room = 15_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < room) await new Promise((r) => setTimeout(r, left + 50));
}
