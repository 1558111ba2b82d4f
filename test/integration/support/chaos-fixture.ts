import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { dumpStore, type DumpLine } from '../../../services/engine/state-dump.ts';
import { SeededRandom } from '../../../services/simulator/seeded-random.ts';
import type { EngagementEvent, ReadySend, ScheduledSend } from '../../../services/shared/contracts/record-types.ts';
import type { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import type { EngineOracle } from './engine-fixture.ts';
import { plainScheduledSend } from '../../support/sample-records.ts';

/**
 * The seed of a test's randomized faults: STO_CHAOS_SEED replays one, otherwise a fresh one.
 * Printed at once, so a failing run names the seed that replays it.
 */
export function chaosSeed(label: string): { seed: string; random: SeededRandom } {
  const seed = process.env.STO_CHAOS_SEED || randomBytes(6).toString('hex');
  console.log(`chaos seed for "${label}": ${seed} (replay with STO_CHAOS_SEED=${seed})`);
  return { seed, random: new SeededRandom(['chaos', seed, label]) };
}

const ZONES = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'];
const TYPES: EngagementEvent['eventType'][] = ['SEND', 'OPEN', 'OPEN', 'CLICK', 'SESSION', 'DELIVERY'];

/** Engagement events over `recipients` recipients in the 60 days before `now`, from `random`. */
export function engagementEvents(count: number, recipients: number, label: string, random: SeededRandom, now: number): EngagementEvent[] {
  return Array.from({ length: count }, (_, i): EngagementEvent => {
    const r = Math.floor(random.next() * recipients);
    const type = TYPES[i % TYPES.length]!;
    return {
      eventId: `${label}-${i}`,
      recipientId: `rcpt-${r}`,
      channel: r % 5 === 0 ? 'PUSH' : 'EMAIL',
      eventType: type,
      occurredAt: now - Math.floor(random.next() * 60 * 86_400_000),
      timeZone: i % 3 === 0 ? ZONES[r % ZONES.length]! : null,
      campaignId: null,
      messageId: null,
      machineOpen: type === 'OPEN' && i % 11 === 0 ? true : null,
      userAgent: null,
      deliveredAt: null,
      attributes: {},
    };
  });
}

export async function oracleDump(oracle: EngineOracle): Promise<DumpLine[]> {
  const lines: DumpLine[] = [];
  for (const store of await oracle.stores()) lines.push(...(await dumpStore(store)));
  return lines.sort((a, b) => a.key.localeCompare(b.key));
}

/** Keys whose values differ between two sorted dumps (at most `limit`), for a failure message. */
export function dumpDifferences(actual: DumpLine[], expected: DumpLine[], limit = 5): string[] {
  const want = new Map(expected.map((line) => [line.key, JSON.stringify(line)]));
  const have = new Map(actual.map((line) => [line.key, JSON.stringify(line)]));
  const problems: string[] = [];
  for (const [key, line] of want) {
    if (problems.length >= limit) break;
    if (!have.has(key)) problems.push(`missing ${key}`);
    else if (have.get(key) !== line) problems.push(`differs ${key}: got ${have.get(key)} want ${line}`);
  }
  for (const key of have.keys()) {
    if (problems.length >= limit) break;
    if (!want.has(key)) problems.push(`extra ${key}`);
  }
  return problems;
}

/** A burst of sends all due at the same instant `sendAt`. */
export function burstSends(count: number, label: string, sendAt: number): ScheduledSend[] {
  return Array.from({ length: count }, (_, i) =>
    plainScheduledSend({ scheduleId: `${label}-s-${i}`, triggerId: `${label}-t-${i}`, recipientId: `${label}-r-${i % 997}`, campaignId: 'burst' }, sendAt, `${label}-payload-${i}`),
  );
}

export interface ReleasedRecord {
  ready: ReadySend;
  /** The Kafka record timestamp (CreateTime: when the delay service produced it). */
  timestamp: number;
  scheduleIdHeader: string | undefined;
}

/** Reads the ready topic until every one of `expected` schedule ids arrived or the time is up. */
export async function readReleases(options: { kafka: Kafka; codec: SchemaCodec; topic: string; expected: number; timeoutMs: number }): Promise<ReleasedRecord[]> {
  const consumer = options.kafka.consumer({ groupId: `${options.topic}.chaos-reader.${Date.now()}` });
  const records: ReleasedRecord[] = [];
  const ids = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const ready = await options.codec.decode<ReadySend>('ready', message.value);
        ids.add(ready.scheduleId);
        records.push({ ready, timestamp: Number(message.timestamp), scheduleIdHeader: message.headers?.['sto-schedule-id']?.toString() });
      },
    });
    const deadline = Date.now() + options.timeoutMs;
    while (ids.size < options.expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    // A little longer, to see duplicates or extras that arrive late.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** What a duplicate must repeat exactly: the send itself (not the instant of its release). */
function content(ready: ReadySend): string {
  const { releasedAt: _releasedAt, payload, ...rest } = ready;
  return JSON.stringify({ ...rest, payload: Buffer.from(payload).toString('base64') });
}

/**
 * Checks released sends against the scheduled ones: each released (once in effect: duplicates
 * only with the same schedule id and identical content), none early by its release instant or
 * by its Kafka record timestamp, nothing released that was not scheduled. Returns the problems.
 */
export function releaseProblems(sends: ScheduledSend[], released: ReleasedRecord[]): { problems: string[]; duplicates: number } {
  const problems: string[] = [];
  const byId = new Map(sends.map((send) => [send.scheduleId, send]));
  const first = new Map<string, ReleasedRecord>();
  let duplicates = 0;
  for (const record of released) {
    const { ready } = record;
    const send = byId.get(ready.scheduleId);
    if (!send) {
      problems.push(`released an unknown schedule id ${ready.scheduleId}`);
      continue;
    }
    if (record.scheduleIdHeader !== ready.scheduleId) problems.push(`${ready.scheduleId}: header sto-schedule-id is ${record.scheduleIdHeader}`);
    if (ready.releasedAt < send.sendAt) problems.push(`${ready.scheduleId}: releasedAt ${ready.releasedAt} before sendAt ${send.sendAt}`);
    if (record.timestamp < send.sendAt) problems.push(`${ready.scheduleId}: record timestamp ${record.timestamp} before sendAt ${send.sendAt}`);
    if (ready.sendAt !== send.sendAt || Buffer.from(ready.payload).toString() !== send.payload.toString() || ready.recipientId !== send.recipientId) {
      problems.push(`${ready.scheduleId}: released content differs from the scheduled send`);
    }
    const earlier = first.get(ready.scheduleId);
    if (earlier) {
      duplicates++;
      if (content(earlier.ready) !== content(ready)) problems.push(`${ready.scheduleId}: a duplicate differs: ${content(earlier.ready)} vs ${content(ready)}`);
    } else first.set(ready.scheduleId, record);
  }
  const missing = sends.filter((send) => !first.has(send.scheduleId));
  if (missing.length > 0) problems.push(`${missing.length} of ${sends.length} sends never released (first: ${missing.slice(0, 3).map((send) => send.scheduleId).join(', ')})`);
  return { problems: problems.slice(0, 20), duplicates };
}

/** Whether a consumer group has committed every input partition up to its high watermark. */
export async function committedEverything(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return high.every((mark) => Number(committed?.partitions.find((p) => p.partition === mark.partition)?.offset ?? -1) >= Number(mark.high));
  } finally {
    await admin.disconnect();
  }
}
