/**
 * Work that the concurrent requests of an isolate share, done in rounds: requests join a queue,
 * and one of them (whoever finds no round running) leads the next round, which does the work
 * once for everyone queued and leaves each its answer. A round's work starts after every one
 * of its members joined, so a write acknowledged before a request joined is seen by its round,
 * as if the request had done the work alone (read-your-writes).
 *
 * Members wait by polling on their own timers, not on a promise another request resolves: in a
 * Worker, code resumed by another request's resolution runs in that request's context, and its
 * I/O there fails ("Cannot perform I/O on behalf of a different request"). The leader does the
 * round's I/O with its own bindings.
 *
 * A leader's round is kept alive past its own request (`waitUntil`), so a client that
 * disconnects while its request leads does not stall the others. A round running longer than
 * `waitMs` all the same is abandoned: the next poller leads a new round, the abandoned round's
 * members queue again (their wait starts over, so a member may wait up to about twice `waitMs`),
 * and a member that waited `waitMs` in the queue gives up (OVERLOADED).
 * @module
 */
import { waitUntil } from 'cloudflare:workers';
import { ApiError } from './errors.js';

/** One request's place in a round: the round it is in, then its answer or its error. */
export interface Member<A> {
  round?: object;
  answer?: { value: A } | { error: unknown };
}

export interface RoundOptions<M> {
  /** What a round does for its members: sets each member's answer (or leaves it to the error). */
  run: (members: M[]) => Promise<void>;
  /** How long a round may run, and a member wait in the queue, in ms. */
  waitMs: number;
  /** How many of the queued members the next round takes (default: all). */
  take?: (queued: readonly M[]) => number;
  /** The round's expected duration in ms, for how long its members sleep between polls. */
  expectedMs?: (members: readonly M[]) => number;
  /** What the 503 says when a member gave up (e.g. which setting sets waitMs). */
  overloaded: string;
}

/** Resolves after `ms` on this request's own timer (how members of shared work wait). */
export const pause = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));

/** Keeps a promise's work going after the request that started it ends (outside a request: nothing to do). */
export function keepAlive(work: Promise<unknown>): void {
  try {
    waitUntil(work.catch(() => undefined));
  } catch {
    // No request to extend (a test calling in directly).
  }
}

export class Rounds<A, M extends Member<A> = Member<A>> {
  private readonly queue: M[] = [];
  private round?: object;
  private roundStarted = 0;
  private roundEndsAt = 0;

  /** `tally` counts the rounds run and the members they took, across instances that share it. */
  constructor(private readonly tally: { rounds: number; members: number } = { rounds: 0, members: 0 }) {}

  /** True when nothing is queued or running (the owner may drop this instance). */
  get idle(): boolean {
    return this.queue.length === 0 && this.round === undefined;
  }

  /** Joins the next round and returns this member's answer (or throws its error). */
  async join(member: M, options: RoundOptions<M>): Promise<A> {
    this.queue.push(member);
    try {
      return await this.wait(member, options);
    } finally {
      // Answered by an abandoned round that came back after all, given up, or an error on the
      // way: never left queued (done again, or keeping this instance from being idle).
      const at = this.queue.indexOf(member);
      if (at >= 0) this.queue.splice(at, 1);
    }
  }

  private async wait(member: M, options: RoundOptions<M>): Promise<A> {
    let queuedAt = Date.now();
    let sleep = 1;
    for (;;) {
      const answer = member.answer;
      if (answer) {
        if ('error' in answer) throw answer.error;
        return answer.value;
      }
      const now = Date.now();
      if (this.round && now - this.roundStarted > options.waitMs) this.round = undefined; // abandoned
      if (member.round && member.round !== this.round) {
        // The round this member was in was abandoned: into the next one.
        member.round = undefined;
        this.queue.push(member);
        queuedAt = now;
      }
      if (!this.round) {
        const token = {};
        this.round = token;
        this.roundStarted = now;
        const round = this.runRound(token, options).finally(() => {
          if (this.round === token) this.round = undefined;
        });
        keepAlive(round);
        await round;
        sleep = 1;
        if (member.answer) continue;
      } else if (!member.round && now - queuedAt > options.waitMs) {
        throw new ApiError(503, 'OVERLOADED', `${options.overloaded} waited ${options.waitMs} ms for its turn in this worker instance. Retry in a second.`, 1);
      }
      // Until the running round should be done; past that, backing off (a round does I/O).
      const ahead = this.roundEndsAt - Date.now();
      sleep = ahead > 0 ? Math.min(50, ahead + 1) : Math.min(50, sleep * 2);
      await pause(sleep);
    }
  }

  private async runRound(token: object, options: RoundOptions<M>): Promise<void> {
    const members = this.queue.splice(0, options.take ? Math.max(1, options.take(this.queue)) : this.queue.length);
    if (!members.length) return;
    for (const m of members) m.round = token;
    this.tally.rounds++;
    this.tally.members += members.length;
    this.roundEndsAt = Date.now() + (options.expectedMs?.(members) ?? 0);
    try {
      await options.run(members);
      for (const m of members) m.answer ??= { error: new Error('A round of shared work left a request without an answer.') };
    } catch (error) {
      for (const m of members) m.answer ??= { error };
    }
  }
}
