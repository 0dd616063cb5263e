/** The Durable Objects a head version uses, and how their answers are unwrapped. */
import type { Env } from '../env.js';
import { fromErrorData } from '../errors.js';
import { aliasDirectoryName } from '../durable/alias-directory.js';
import type { Outcome } from '../durable/head-state.js';
import type { VersionRow } from '../store/d1.js';

/** The version's online examples (kNN and centroid heads) and their classification. */
export function stateStub(env: Env, row: VersionRow) {
  return env.HEAD_STATE.get(env.HEAD_STATE.idFromName(row.uid));
}

/** The version's drift statistics live in an object of their own: recording never queues behind a classification. */
export function driftStub(env: Env, row: VersionRow) {
  return env.HEAD_STATE.get(env.HEAD_STATE.idFromName(`drift:${row.uid}`));
}

/** The head's aliases, answered from memory (durable/alias-directory.ts); told of every alias change. */
export function aliasDirectory(env: Env, tenantId: string, name: string) {
  return env.ALIASES.get(env.ALIASES.idFromName(aliasDirectoryName(tenantId, name)));
}

/** Unwraps a Durable Object outcome: its status and code survive the RPC boundary. */
export function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw fromErrorData(o);
}
