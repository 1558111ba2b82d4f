import type { Message, Producer } from 'kafkajs';
import { changelogMessages } from './changelog.ts';
import type { OutgoingRecord } from './partition-handler.ts';
import type { PartitionStore } from './partition-store.ts';
import type { StateTransaction } from './state-transaction.ts';

/** One partition's share of a commit: its state changes, its outputs and its consumed offsets. */
export interface PartitionCommit {
  store: PartitionStore;
  tx: StateTransaction;
  outputs: OutgoingRecord[];
  offsets: Record<string, number>;
}

/** Bytes per produce request, well under the broker's default max.message.bytes of 1 MiB. */
export const MAX_REQUEST_BYTES = 512 * 1024;
/** Per-record overhead of the record format, roughly (headers, varints, attributes). */
const RECORD_OVERHEAD_BYTES = 32;

/**
 * The commit of one or more partitions: every output first (any number of requests, at least
 * once), then the changelogs in one request, so each partition's changelog lands as one record
 * batch, all of it or none (restore replays whole commits only), then each store batch with its
 * offsets. `stillOwned` is asked again before the changelog and before the store batches: a
 * partition lost in between gets neither (its outputs are already out, which at-least-once
 * allows; its new owner restores from a changelog this member no longer writes to).
 * Returns the partitions whose state was committed.
 */
export async function commitPartitions(
  options: { producer: Producer; changelogTopic: string; syncWrites: boolean },
  commits: readonly PartitionCommit[],
  stillOwned: (partition: number) => boolean = () => true,
): Promise<number[]> {
  const { producer, changelogTopic } = options;
  const topicMessages = new Map<string, Message[]>();
  for (const output of commits.flatMap((commit) => commit.outputs)) {
    const list = topicMessages.get(output.topic) ?? [];
    list.push(output.message);
    topicMessages.set(output.topic, list);
  }
  for (const chunk of requestChunks(topicMessages, MAX_REQUEST_BYTES)) await producer.sendBatch({ topicMessages: chunk });
  const owned = commits.filter((commit) => stillOwned(commit.store.partition));
  const changelogs = owned.map((commit) => changelogMessages(commit.store.partition, commit.tx.dirty, commit.offsets));
  const changelogNext = new Map<number, number>();
  if (changelogs.some((messages) => messages.length > 0)) {
    const results = await producer.sendBatch({ topicMessages: [{ topic: changelogTopic, messages: changelogs.flat() }] });
    owned.forEach((commit, index) => {
      const result = results.find((candidate) => candidate.topicName === changelogTopic && candidate.partition === commit.store.partition);
      if (result?.baseOffset !== undefined && changelogs[index]!.length > 0) changelogNext.set(commit.store.partition, Number(result.baseOffset) + changelogs[index]!.length);
    });
  }
  const committed: number[] = [];
  for (const { store, tx, offsets } of owned) {
    if (!stillOwned(store.partition)) continue;
    const next = changelogNext.get(store.partition);
    await store.commit({ puts: tx.dirty, offsets, ...(next !== undefined ? { changelogNext: next } : {}) }, options.syncWrites);
    tx.settle();
    committed.push(store.partition);
  }
  return committed;
}

function messageBytes(message: Message): number {
  const size = (value: Message['key'] | Message['value']) => (value == null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  let headers = 0;
  for (const [name, value] of Object.entries(message.headers ?? {})) headers += name.length + (typeof value === 'string' ? Buffer.byteLength(value) : value instanceof Buffer ? value.length : 16);
  return size(message.key) + size(message.value) + headers + RECORD_OVERHEAD_BYTES;
}

/** Splits per-topic messages into requests of at most `limit` bytes, keeping each topic's order. */
export function requestChunks(topicMessages: ReadonlyMap<string, Message[]>, limit: number): { topic: string; messages: Message[] }[][] {
  const chunks: { topic: string; messages: Message[] }[][] = [];
  let current: { topic: string; messages: Message[] }[] = [];
  let bytes = 0;
  for (const [topic, messages] of topicMessages) {
    let entry: { topic: string; messages: Message[] } | null = null;
    for (const message of messages) {
      const size = messageBytes(message);
      if (bytes > 0 && bytes + size > limit) {
        chunks.push(current);
        current = [];
        bytes = 0;
        entry = null;
      }
      if (!entry) {
        entry = { topic, messages: [] };
        current.push(entry);
      }
      entry.messages.push(message);
      bytes += size;
    }
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
