import type { PartitionStore } from './partition-store.ts';
import { PartitionLock } from './partition-lock.ts';
import { CleanCache } from './state-transaction.ts';

/** One owned partition number: its store, cache, lock and the handler's in-memory state. */
export interface OwnedPartition<S = unknown> {
  readonly partition: number;
  store: PartitionStore | null;
  readonly cache: CleanCache;
  readonly lock: PartitionLock;
  /** restoring → ready → revoked; only a ready partition is processed or punctuated. */
  phase: 'restoring' | 'ready' | 'revoked';
  /** The handler's state of this partition (onOpen's result; undefined for handlers without one). */
  state: S | undefined;
  /** onOpen ran: onClose is owed. */
  opened: boolean;
}

/** The partition numbers of an assignment across co-partitioned topics, and the change from `owned`. */
export function assignmentDiff(owned: Iterable<number>, assignment: Readonly<Record<string, number[]>>, topics: readonly string[]): { next: number[]; added: number[]; revoked: number[] } {
  const next = new Set<number>();
  for (const topic of topics) for (const partition of assignment[topic] ?? []) next.add(partition);
  const current = new Set(owned);
  return {
    next: [...next].sort((a, b) => a - b),
    added: [...next].filter((partition) => !current.has(partition)).sort((a, b) => a - b),
    revoked: [...current].filter((partition) => !next.has(partition)).sort((a, b) => a - b),
  };
}

/**
 * Which partitions this member owns, as far as it knows. KafkaJS has eager rebalancing and no
 * revoke callback: a rebalance is first seen as the consumer's REBALANCING event (it is about to
 * rejoin, after which another member may own any of our partitions), and the new assignment as
 * GROUP_JOIN. Between the two the member is fenced: it owns nothing it may commit for.
 */
export class Membership<S> {
  readonly #owned = new Map<number, OwnedPartition<S>>();
  readonly #cacheEntries: number;
  #joined = false;
  #fenced = false;

  constructor(cacheEntries: number) {
    this.#cacheEntries = cacheEntries;
  }

  get joined(): boolean {
    return this.#joined;
  }

  /** The consumer is about to rejoin: nothing may be committed until the next assignment. */
  fence(): void {
    this.#fenced = true;
  }

  /** Applies a new assignment: returns the partitions added (now restoring) and those revoked (removed). */
  assign(assignment: Readonly<Record<string, number[]>>, topics: readonly string[]): { next: number[]; added: OwnedPartition<S>[]; revoked: OwnedPartition<S>[] } {
    this.#joined = true;
    const diff = assignmentDiff(this.#owned.keys(), assignment, topics);
    const revoked = diff.revoked.map((partition) => this.#owned.get(partition)!);
    for (const owned of revoked) {
      owned.phase = 'revoked';
      this.#owned.delete(owned.partition);
    }
    const added = diff.added.map((partition) => {
      const owned: OwnedPartition<S> = { partition, store: null, cache: new CleanCache(this.#cacheEntries), lock: new PartitionLock(), phase: 'restoring', state: undefined, opened: false };
      this.#owned.set(partition, owned);
      return owned;
    });
    this.#fenced = false;
    return { next: diff.next, added, revoked };
  }

  /** Removes every partition (stop): returns them. */
  releaseAll(): OwnedPartition<S>[] {
    const all = [...this.#owned.values()];
    for (const owned of all) owned.phase = 'revoked';
    this.#owned.clear();
    return all;
  }

  get(partition: number): OwnedPartition<S> | undefined {
    return this.#owned.get(partition);
  }

  /** Whether this exact ownership is current and ready, and no rebalance is under way: safe to commit for. */
  owns(owned: OwnedPartition<S>): boolean {
    return !this.#fenced && owned.phase === 'ready' && this.#owned.get(owned.partition) === owned && owned.store !== null;
  }

  partitions(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  all(): OwnedPartition<S>[] {
    return [...this.#owned.values()].sort((a, b) => a.partition - b.partition);
  }

  ready(): OwnedPartition<S>[] {
    return this.all().filter((owned) => owned.phase === 'ready' && owned.store !== null);
  }

  restoring(): number[] {
    return this.all()
      .filter((owned) => owned.phase === 'restoring')
      .map((owned) => owned.partition);
  }
}
