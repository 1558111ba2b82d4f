import { randomBytes } from 'node:crypto';
import type { Message } from 'kafkajs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { GlobalTable } from '../../../services/shared/stream/global-table.ts';
import { stackConfig } from '../support/stack.ts';

const PARTITIONS = 3;
const KEYS = 600;

/** Polls `condition` until true; fails naming `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('global table over a compacted topic', () => {
  const topic = `sto.test.global-table.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const kafka = createKafka(stackConfig().kafka, createLogger('global-table-test', 'error'));
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true });
  const tables: Array<GlobalTable<string>> = [];
  const expected = new Map<string, string>();

  const table = (instance: string, changes: Array<[string, string | null]> = []) => {
    const created = new GlobalTable<string>({
      name: `test-${instance}`,
      topic,
      topicVariable: 'STO_TOPIC_TEST',
      kafka,
      logger: createLogger(`global-table-${instance}`, 'error'),
      registry: new Registry(),
      decode: (_key, value) => {
        const text = value.toString('utf8');
        if (!text.startsWith('v')) throw new Error('not a value of this table');
        return text;
      },
      onChange: (key, value) => changes.push([key, value]),
    });
    tables.push(created);
    return created;
  };

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    await producer.connect();
    // Every key once, a third of them again with a newer value, a tenth deleted, and bytes that do not decode.
    const messages: Message[] = [];
    for (let i = 0; i < KEYS; i++) messages.push({ key: `k${i}`, value: `v1-${i}` });
    for (let i = 0; i < KEYS; i += 3) messages.push({ key: `k${i}`, value: `v2-${i}` });
    for (let i = 0; i < KEYS; i += 10) messages.push({ key: `k${i}`, value: null });
    messages.push({ key: 'broken', value: Buffer.from([0xff, 0x00]) });
    for (let at = 0; at < messages.length; at += 200) await producer.send({ topic, acks: -1, messages: messages.slice(at, at + 200) });
    for (const { key, value } of messages) {
      if (value === null) expected.delete(String(key));
      else if (String(value).startsWith('v')) expected.set(String(key), String(value));
    }
  });

  afterAll(async () => {
    await Promise.all(tables.map((created) => created.stop()));
    await producer.disconnect();
  });

  it('every instance holds the whole topic, all partitions, latest value per key, when start() returns', async () => {
    const a = table('a');
    const b = table('b');
    await Promise.all([a.start(60_000), b.start(60_000)]);
    expect(expected.size).toBe(KEYS - KEYS / 10);
    for (const loaded of [a, b]) {
      expect(loaded.loaded).toBe(true);
      expect(new Map(loaded.entries())).toEqual(expected);
    }
  });

  it('keeps up with records written after it loaded, deletions included, and reports each change', async () => {
    const changes: Array<[string, string | null]> = [];
    const c = table('c', changes);
    await c.start(60_000);
    expect(changes).toEqual([]);
    await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: 'v3-1' }, { key: 'k2', value: null }, { key: 'new', value: 'v1-new' }] });
    await until('three changes', () => changes.length >= 3);
    expect(c.get('k1')).toBe('v3-1');
    expect(c.get('k2')).toBeUndefined();
    expect(c.get('new')).toBe('v1-new');
    expect(new Set(changes.map(([key]) => key))).toEqual(new Set(['k1', 'k2', 'new']));
  });

  it('an empty topic is loaded at once', async () => {
    const admin = kafka.admin();
    const empty = `${topic}.empty`;
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: empty, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    const d = new GlobalTable<string>({ name: 'test-empty', topic: empty, topicVariable: 'STO_TOPIC_TEST', kafka, logger: createLogger('global-table-empty', 'error'), registry: new Registry(), decode: (_key, value) => value.toString('utf8') });
    tables.push(d);
    await d.start(60_000);
    expect(d.size).toBe(0);
  });
});
