/**
 * The aliases of one head, answered from memory in front of D1: one object per tenant and head
 * name. Resolving `name@alias` asks this object, which reads D1 once and then answers without
 * it, so a busy alias costs an in-memory call a round instead of a database query.
 *
 * D1 stays the record (an upload moves its alias in the same batch that inserts the version).
 * Every change to a head's aliases — a move, a delete, an upload with `?alias=`, deleting the
 * head — is committed in D1 first and then announced here (`moved`) before it is acknowledged,
 * so a request sent after the acknowledgement never gets the old target: moves stay immediate.
 * A read that was in flight when a move was announced answers only the requests that asked
 * before it, and is not kept.
 *
 * Answers also expire after ALIAS_DIRECTORY_TTL_MS, which bounds how long an alias can be stale
 * when a change was committed but its announcement failed (the caller is told), or when D1 was
 * edited by hand.
 * @module
 */
import { DurableObject } from 'cloudflare:workers';
import { Store, type AliasTargets } from '../store/d1.js';

export interface AliasDirectoryEnv {
  DB: D1Database;
}

export const ALIAS_DIRECTORY_TTL_MS = 30_000;
/** Aliases remembered per head (names that do not exist are remembered too, as null). */
const MAX_ANSWERS = 256;

/** The object's name: one per tenant and head, whatever characters the names hold. */
export const aliasDirectoryName = (tenantId: string, name: string) => JSON.stringify(['aliases', tenantId, name]);

interface Answer {
  targets: Promise<AliasTargets | null>;
  readAt: number;
}

export class AliasDirectory extends DurableObject<AliasDirectoryEnv> {
  /** alias → its targets as read from D1 since the last announced change. */
  private readonly answers = new Map<string, Answer>();

  /** Where `alias` of head `name` points (null: no such alias), from memory when read since the last change. */
  async targets(tenantId: string, name: string, alias: string): Promise<AliasTargets | null> {
    const hit = this.answers.get(alias);
    if (hit && Date.now() - hit.readAt < ALIAS_DIRECTORY_TTL_MS) return hit.targets;
    const answer: Answer = { targets: this.read(tenantId, name, alias), readAt: Date.now() };
    // Every caller sharing the read sees its failure; the stored promise itself must not count as unhandled.
    answer.targets.catch(() => undefined);
    this.answers.delete(alias);
    this.answers.set(alias, answer);
    if (this.answers.size > MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value as string);
    try {
      return await answer.targets;
    } catch (error) {
      // A failed read is not remembered: the next request reads again.
      if (this.answers.get(alias) === answer) this.answers.delete(alias);
      throw error;
    }
  }

  /** A change to the head's aliases was committed in D1: forget every answer read before it. */
  moved(): void {
    this.answers.clear();
  }

  /** The D1 read (a method of its own so that a test can hold it in flight). */
  protected read(tenantId: string, name: string, alias: string): Promise<AliasTargets | null> {
    return new Store(this.env.DB).aliasTargets(tenantId, name, alias);
  }
}
