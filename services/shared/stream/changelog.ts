import { randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import type { Logger } from '../logger.ts';
import type { PartitionStore } from './partition-store.ts';

/** Changelog records: key = store key, value = store value (null = tombstone). */
export const CHANGELOG_OFFSET_KEY_PREFIX = '\x00offset:';

export function changelogMessages(partition: number, dirty: ReadonlyMap<string, Buffer | null>, offsets: Readonly<Record<string, number>>): Message[] {
  const messages: Message[] = [];
  for (const [key, value] of dirty) messages.push({ key, value, partition });
  for (const [topic, offset] of Object.entries(offsets)) {
    messages.push({ key: `${CHANGELOG_OFFSET_KEY_PREFIX}${topic}`, value: Buffer.from(String(offset)), partition });
  }
  return messages;
}

const RESTORE_BATCH = 5_000;

/** What one changelog record means, or why it cannot be applied. */
export function changelogEntry(
  rawKey: Buffer | null,
  value: Buffer | null,
): { kind: 'offset'; topic: string; offset: number } | { kind: 'state'; key: string; value: Buffer | null } | { reason: string } {
  if (rawKey === null || rawKey.length === 0) return { reason: 'changelog record without a key' };
  const key = rawKey.toString('utf8');
  if (!key.startsWith(CHANGELOG_OFFSET_KEY_PREFIX)) return { kind: 'state', key, value };
  const text = value?.toString('utf8') ?? '';
  // Before, Number() of a malformed entry became NaN (or 0 for an empty value) and was stored as the offset.
  if (!/^\d{1,16}$/.test(text)) return { reason: `offset entry ${JSON.stringify(key.slice(CHANGELOG_OFFSET_KEY_PREFIX.length))} holds ${JSON.stringify(text.slice(0, 64))}, not an offset` };
  return { kind: 'offset', topic: key.slice(CHANGELOG_OFFSET_KEY_PREFIX.length), offset: Number(text) };
}

/**
 * Brings partition stores up to the end of their compacted changelog partitions. A store that is
 * already at the end restores nothing; one that is behind replays only the tail; one that is ahead
 * of the changelog (the topic was recreated) or below the low watermark is cleared and rebuilt.
 * Returns the number of records applied per partition.
 */
export async function restoreFromChangelog(options: {
  kafka: Kafka;
  topic: string;
  stores: PartitionStore[];
  groupPrefix: string;
  logger: Logger;
  isCancelled?: () => boolean;
  /**
   * A changelog record that cannot be applied (no key, or an offset entry that is not a
   * non-negative integer): it is skipped, and handed here to be dead-lettered with its bytes.
   */
  quarantine?: (record: { partition: number; offset: string; timestamp: string; key: Buffer | null; value: Buffer | null }, reason: string) => Promise<void>;
  /**
   * Called after each batch of a partition's records is written to its store, with what was
   * written (null: deleted) and how many changelog records are still to come after it, so a
   * caller can keep the last of them in memory; the values are the fetch's own buffers, views
   * into a whole fetched response: copy what is kept.
   */
  onWritten?: (partition: number, puts: ReadonlyMap<string, Buffer | null>, recordsAfter: number) => void;
}): Promise<Map<number, number>> {
  const { kafka, topic, stores, logger } = options;
  const applied = new Map<number, number>(stores.map((store) => [store.partition, 0]));
  if (stores.length === 0) return applied;
  const admin = kafka.admin();
  await admin.connect();
  let watermarks: { partition: number; high: string; low: string }[];
  try {
    watermarks = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const targets = new Map<number, { store: PartitionStore; start: number; end: number }>();
  for (const store of stores) {
    const mark = watermarks.find((candidate) => candidate.partition === store.partition);
    const high = Number(mark?.high ?? 0);
    const low = Number(mark?.low ?? 0);
    let start = store.changelogNext;
    if (start > high || start < low) {
      logger.warn({ partition: store.partition, storeAt: start, low, high }, 'store does not match its changelog: rebuilding it');
      await store.clear();
      start = low;
    }
    if (start < high) targets.set(store.partition, { store, start, end: high });
  }
  if (targets.size === 0) return applied;

  const consumer = kafka.consumer({ groupId: `${options.groupPrefix}-restore-${randomUUID()}`, maxBytes: 50 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    let fail!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const remaining = new Set(targets.keys());
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const target = targets.get(batch.partition);
        if (!target || !remaining.has(batch.partition)) return;
        try {
          let puts = new Map<string, Buffer | null>();
          let offsets: Record<string, number> = {};
          let next = target.store.changelogNext;
          const flush = async () => {
            await target.store.commit({ puts, offsets, changelogNext: next });
            options.onWritten?.(batch.partition, puts, target.end - next);
            puts = new Map();
            offsets = {};
          };
          for (const message of batch.messages) {
            const offset = Number(message.offset);
            if (offset < target.start || offset >= target.end) continue;
            next = offset + 1;
            const entry = changelogEntry(message.key, message.value);
            if ('reason' in entry) {
              if (!options.quarantine) throw new Error(`changelog ${topic} partition ${batch.partition} offset ${offset}: ${entry.reason}`);
              await options.quarantine({ partition: batch.partition, offset: message.offset, timestamp: message.timestamp, key: message.key, value: message.value }, entry.reason);
              continue;
            }
            if (entry.kind === 'offset') offsets[entry.topic] = entry.offset;
            else puts.set(entry.key, entry.value);
            applied.set(batch.partition, (applied.get(batch.partition) ?? 0) + 1);
            if (puts.size >= RESTORE_BATCH) await flush();
          }
          await flush();
          // Without this the next fetch starts at the same offset again (auto-resolve is off).
          const last = batch.messages.at(-1);
          if (last) resolveOffset(last.offset);
          await heartbeat();
          if (next >= target.end) {
            remaining.delete(batch.partition);
            consumer.pause([{ topic, partitions: [batch.partition] }]);
            if (remaining.size === 0) finish();
          }
        } catch (error) {
          fail(error);
        }
      },
    });
    for (const [partition, target] of targets) consumer.seek({ topic, partition, offset: String(target.start) });
    const others = watermarks.map((mark) => mark.partition).filter((partition) => !targets.has(partition));
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    const poll = setInterval(() => {
      if (options.isCancelled?.()) fail(new Error('restore cancelled: partition revoked'));
    }, 200);
    try {
      await done;
    } finally {
      clearInterval(poll);
    }
  } finally {
    await consumer.disconnect();
  }
  return applied;
}
