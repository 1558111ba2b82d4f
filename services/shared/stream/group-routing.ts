import type { Kafka } from 'kafkajs';
import { AssignerProtocol } from '../kafka/kafkajs.ts';
import type { Logger } from '../logger.ts';
import { decodeMemberAdvert } from './co-partitioned-assigner.ts';

/** Who serves one partition: the member's instance id and admin address. */
export interface PartitionOwner {
  instanceId: string;
  adminUrl: string | null;
}

export interface RoutingTable {
  /** Partitions of the keyed topic (what the producer's partitioner hashes keys over). */
  partitionCount: number;
  owners: ReadonlyMap<number, PartitionOwner>;
}

/** A failed or unstable look-up is asked again at most this often (requests in between get 503). */
const RETRY_MS = 500;
/** A table is read again after this long even without a membership change seen here. */
const MAX_AGE_MS = 30_000;

/**
 * Who owns which partition in a consumer group, read from the group itself (DescribeGroups:
 * each member's metadata carries its advertised admin address, its assignment the partitions),
 * the way Kafka Streams' interactive queries find a key's host. Only a Stable group is trusted:
 * during a rebalance the table is unknown and callers answer 503. The table is dropped whenever
 * this member sees a rebalance begin or an assignment arrive (every member rejoins in each
 * rebalance), so it is never older than this member's own assignment.
 */
export class GroupRouting {
  readonly #kafka: Kafka;
  readonly #groupId: string;
  readonly #topic: string;
  readonly #logger: Logger;
  readonly #clock: () => number;
  #table: { table: RoutingTable; readAt: number } | null = null;
  #pending: Promise<RoutingTable | null> | null = null;
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  #admin: ReturnType<Kafka['admin']> | null = null;
  #generation = 0;
  #partitionCount: number | null = null;

  constructor(options: { kafka: Kafka; groupId: string; topic: string; logger: Logger; clock?: () => number }) {
    this.#kafka = options.kafka;
    this.#groupId = options.groupId;
    this.#topic = options.topic;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
  }

  /** Membership changed (or an owner did not answer): the next request reads the group again. */
  invalidate(): void {
    this.#generation++;
    this.#table = null;
    this.#lastFailureAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Partitions of the keyed topic, once read (kept across rebalances: adding partitions to a keyed
   * topic moves keys, which the state stores do not follow anyway); null until the first read.
   */
  async partitionCount(): Promise<number | null> {
    if (this.#partitionCount === null) await this.table();
    return this.#partitionCount;
  }

  /** The current table, or null while the group rebalances (or cannot be read). */
  async table(): Promise<RoutingTable | null> {
    const now = this.#clock();
    if (this.#table && now - this.#table.readAt < MAX_AGE_MS) return this.#table.table;
    if (now - this.#lastFailureAt < RETRY_MS) return null;
    this.#pending ??= this.#read().finally(() => (this.#pending = null));
    return this.#pending;
  }

  async #read(): Promise<RoutingTable | null> {
    const generation = this.#generation;
    try {
      this.#admin ??= this.#kafka.admin();
      await this.#admin.connect();
      const [{ groups }, metadata] = await Promise.all([this.#admin.describeGroups([this.#groupId]), this.#admin.fetchTopicMetadata({ topics: [this.#topic] })]);
      const group = groups[0];
      const partitionCount = metadata.topics[0]?.partitions.length ?? 0;
      if (partitionCount > 0) this.#partitionCount = partitionCount;
      const table = group && group.state === 'Stable' && partitionCount > 0 ? tableOf(group.members, this.#topic, partitionCount) : null;
      // A membership change seen while reading makes what was read stale.
      if (table && generation === this.#generation) this.#table = { table, readAt: this.#clock() };
      else this.#lastFailureAt = this.#clock();
      return generation === this.#generation ? table : null;
    } catch (error) {
      this.#lastFailureAt = this.#clock();
      this.#logger.warn({ err: error, groupId: this.#groupId }, 'cannot read the consumer group to route a query');
      return null;
    }
  }

  async stop(): Promise<void> {
    await this.#admin?.disconnect().catch(() => undefined);
    this.#admin = null;
  }
}

/** The owners of a stable group's partitions, from its members' metadata and assignments. Pure. */
export function tableOf(members: readonly { memberMetadata: Buffer; memberAssignment: Buffer }[], topic: string, partitionCount: number): RoutingTable | null {
  const owners = new Map<number, PartitionOwner>();
  for (const member of members) {
    const advert = decodeMemberAdvert(member.memberMetadata);
    if (!advert) continue;
    const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    for (const partition of assignment?.assignment[topic] ?? []) owners.set(partition, { instanceId: advert.instanceId, adminUrl: advert.adminUrl });
  }
  return { partitionCount, owners };
}
