import { ErrorCode, errorMessage, StoError } from '../errors.ts';
import type { DeadLetterPublisher } from '../kafka/dead-letter-publisher.ts';
import type { Logger } from '../logger.ts';
import type { PartitionCommit } from './commit-protocol.ts';
import type { Membership, OwnedPartition } from './membership.ts';
import { acquireAll } from './partition-lock.ts';
import type { OutgoingRecord, PartitionHandler, Punctuator } from './partition-handler.ts';
import type { LoopWatchdog } from './loop-watchdog.ts';
import type { RunnerMetrics } from './runner-metrics.ts';
import { StateTransaction } from './state-transaction.ts';
import { WakeUpTimer, type TimerApi } from './wake-up-timer.ts';

/** After a failed pass, its partitions are tried again this much later. */
const RETRY_AFTER_FAILURE_MS = 1_000;
/** A held-back partition (e.g. rate-limited) is looked at again at most this long after its next due instant. */
const MAX_HOLD_MS = 3_600_000;

export interface PunctuationDeps<S> {
  handler: PartitionHandler<S> & { punctuator: Punctuator<S> };
  membership: Membership<S>;
  logger: Logger;
  metrics: RunnerMetrics;
  deadLetters: DeadLetterPublisher;
  /** The dead-letter topic of quarantined state. */
  quarantineTopic: string;
  /** The source named in quarantined state's dead-letter records (the changelog topic). */
  stateTopic: string;
  clock: () => number;
  clockRate: number;
  timers?: TimerApi;
  /** The runner's commit protocol; returns the partitions committed (those still owned). */
  commit(commits: PartitionCommit[]): Promise<number[]>;
  isActive(): boolean;
  watchdog?: LoopWatchdog;
}

/**
 * The runner's wall-clock punctuation. One timer per owned partition sleeps until the handler's
 * next wake-up; when one fires, a pass takes every owned partition with something due (not just
 * the one that woke), locks them in ascending order, runs the punctuator on each, and commits all
 * of them together (outputs, then one changelog request, then the store batches), dropping any
 * partition lost to a rebalance before its changelog or store batch is written. One pass runs at
 * a time; wake-ups during a pass ask for one more pass after it, so under load passes grow
 * instead of multiplying.
 */
export class PunctuationScheduler<S> {
  readonly #deps: PunctuationDeps<S>;
  readonly #timer: WakeUpTimer;
  readonly #flight = { running: false, again: false };
  #idle: Promise<void> = Promise.resolve();

  constructor(deps: PunctuationDeps<S>) {
    this.#deps = deps;
    this.#timer = new WakeUpTimer({ clock: deps.clock, clockRate: deps.clockRate, ...(deps.timers ? { timers: deps.timers } : {}), fire: () => void this.runPasses() });
  }

  /** Re-reads a partition's next wake-up (after open and after every commit of the partition). */
  async rearm(owned: OwnedPartition<S>): Promise<void> {
    if (!owned.store || owned.phase !== 'ready') return;
    const next = await this.#deps.handler.punctuator.nextWakeUp(owned.store, owned.state as S);
    if (owned.phase === 'ready') this.#timer.arm(owned.partition, next);
  }

  disarm(partition: number): void {
    this.#timer.disarm(partition);
  }

  stop(): void {
    this.#timer.disarmAll();
  }

  /** Resolves when no pass is running. */
  idle(): Promise<void> {
    return this.#idle;
  }

  /** Runs passes until nothing more is due now (or one more pass was asked for during the last). */
  async runPasses(): Promise<void> {
    if (this.#flight.running) {
      this.#flight.again = true;
      return;
    }
    this.#flight.running = true;
    let done!: () => void;
    this.#idle = new Promise((resolve) => (done = resolve));
    try {
      do {
        this.#flight.again = false;
        await this.#pass();
      } while (this.#flight.again && this.#deps.isActive());
    } finally {
      this.#flight.running = false;
      done();
    }
  }

  async #pass(): Promise<void> {
    const { handler, membership, clock, logger, metrics } = this.#deps;
    if (!this.#deps.isActive()) return;
    const punctuator = handler.punctuator;
    // Only partitions with something due take their lock; the others keep (or get) their timer.
    const startedAt = clock();
    const due: OwnedPartition<S>[] = [];
    for (const owned of membership.ready()) {
      const next = await punctuator.nextWakeUp(owned.store!, owned.state as S);
      if (next !== null && next <= startedAt) due.push(owned);
      else this.#timer.arm(owned.partition, next);
    }
    if (due.length === 0) return;
    const timer = metrics.punctuationSeconds.startTimer();
    const release = await acquireAll(due.map((owned) => owned.lock));
    const results = new Map<number, { more?: boolean; retryAt?: number | null }>();
    const work: { owned: OwnedPartition<S>; commit: PartitionCommit }[] = [];
    try {
      for (const owned of due) {
        // The lock may have waited for a rebalance that took the partition away.
        if (!membership.owns(owned)) continue;
        const tx = new StateTransaction(owned.store!, owned.cache);
        const outputs: OutgoingRecord[] = [];
        const emit = (record: OutgoingRecord) => void outputs.push(record);
        const quarantine = (key: string, value: Buffer | null, reason: string) => {
          outputs.push(this.#quarantineLetter(owned.partition, key, value, reason));
          metrics.quarantined.inc({ source: 'store' });
          logger.error({ partition: owned.partition, key, bytes: value?.length ?? 0, reason }, 'unreadable stored value quarantined to the dead-letter topic');
        };
        results.set(owned.partition, await punctuator.punctuate({ tx, emit, now: clock(), quarantine }, owned.state as S));
        work.push({ owned, commit: { store: owned.store!, tx, outputs, offsets: {} } });
      }
      const changed = work.filter(({ commit }) => commit.tx.dirty.size > 0 || commit.outputs.length > 0);
      const committed = new Set(changed.length > 0 ? await this.#deps.commit(changed.map(({ commit }) => commit)) : []);
      for (const { owned, commit } of changed) {
        if (committed.has(owned.partition)) handler.afterCommit?.(owned.partition, owned.state as S);
        else {
          metrics.punctuationsDropped.inc();
          handler.onAbort?.(owned.partition, owned.state as S);
          logger.warn({ partition: owned.partition, outputs: commit.outputs.length }, 'punctuation not committed: the partition was revoked (or a rebalance began) during it');
        }
      }
    } catch (error) {
      this.#deps.watchdog?.punctuationFailed(errorMessage(error));
      for (const { owned } of work) handler.onAbort?.(owned.partition, owned.state as S);
      logger.error({ err: error, partitions: due.map((owned) => owned.partition) }, `punctuation failed; retrying in ${RETRY_AFTER_FAILURE_MS} ms`);
      for (const owned of due) if (membership.owns(owned)) this.#timer.arm(owned.partition, clock() + RETRY_AFTER_FAILURE_MS);
      return;
    } finally {
      release();
      timer();
    }
    this.#deps.watchdog?.punctuationSucceeded();
    for (const { owned } of work) {
      if (!membership.owns(owned)) continue;
      const result = results.get(owned.partition) ?? {};
      // Stopped at a size limit: more may be due. Another pass at once (consumption gets the locks in between).
      if (result.more) {
        this.#flight.again = true;
        continue;
      }
      const next = await punctuator.nextWakeUp(owned.store!, owned.state as S);
      const retryAt = result.retryAt ?? null;
      this.#timer.arm(owned.partition, next === null ? retryAt : retryAt === null ? next : Math.max(next, Math.min(retryAt, next + MAX_HOLD_MS)));
    }
  }

  #quarantineLetter(partition: number, key: string, value: Buffer | null, reason: string): OutgoingRecord {
    const error = new StoError(ErrorCode.CORRUPT_STATE, `stored value of key ${JSON.stringify(key)} cannot be read: ${reason}`);
    return this.#deps.deadLetters.letter(
      { topic: this.#deps.stateTopic, partition, offset: '-1', timestamp: String(this.#deps.clock()), key: Buffer.from(key), value },
      error,
      this.#deps.quarantineTopic,
    );
  }
}

