import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createKafka } from '../../../services/shared/kafka/kafka-client.ts';
import {
  decodeRecord,
  encodeRecord,
  kafkajsFetchRecordDecoder,
  kafkajsProduceRecordEncoder,
  kafkajsRecordDecoder,
  kafkajsRecordEncoder,
  recordCodecInstalled,
  type BatchContext,
  type RecordInput,
} from '../../../services/shared/kafka/kafkajs-record.ts';

const require = createRequire(import.meta.url);

describe('record encoder of kafkajs produce requests', () => {
  it('is what kafkajs produce requests use once the project has loaded kafkajs', () => {
    expect(typeof createKafka).toBe('function');
    expect(recordCodecInstalled).toBe(true);
    expect(kafkajsProduceRecordEncoder()).toBe(encodeRecord);
    expect(kafkajsRecordEncoder()).not.toBe(encodeRecord);
  });

  it('writes the bytes kafkajs writes, for every kind of key, value and delta', () => {
    const original = kafkajsRecordEncoder();
    const keys = [null, undefined, '', 'r:rcpt-1', 'ünïcødé 🙂', '\ud800 lone surrogate', Buffer.alloc(0), Buffer.alloc(300, 3), 'x'.repeat(20_000)];
    const values = [null, undefined, Buffer.alloc(76, 9), 'text', Buffer.alloc(70_000, 1), ''];
    const offsets = [0, 1, 63, 64, 8_191, 8_192, 2 ** 20, 2 ** 27, 2 ** 30 - 1];
    const timestamps = [0, -1, 5, -64, 63, 64, 1_000_000, -(2 ** 30) + 1, 2 ** 30 - 1];
    let compared = 0;
    for (const key of keys)
      for (const value of values)
        for (const offsetDelta of offsets)
          for (const timestampDelta of timestamps) {
            const record: RecordInput = { key, value, offsetDelta, timestampDelta };
            const ours = encodeRecord(record).buffer;
            const theirs: Buffer = original(record).buffer;
            if (!ours.equals(theirs)) expect({ record, ours: ours.toString('hex') }).toEqual({ record, ours: theirs.toString('hex') });
            compared++;
          }
    expect(compared).toBe(keys.length * values.length * offsets.length * timestamps.length);
  });

  it('leaves what it does not cover to kafkajs, with the same bytes or the same error', () => {
    const original = kafkajsRecordEncoder();
    const covered: RecordInput[] = [
      { key: 'k', value: Buffer.from('v'), headers: { trace: 'abc', many: ['1', '2'] } },
      { key: 'k', value: 'v', offsetDelta: 3, timestampDelta: 2 ** 40 },
      { key: 'k', value: 'v', timestampDelta: -(2 ** 35) },
      { key: 'k', value: 'v', offsetDelta: 2 ** 30 },
      { key: 'k', value: 'v', headers: {} },
    ];
    for (const record of covered) expect(encodeRecord(record).buffer.equals(original(record).buffer)).toBe(true);
    expect(() => encodeRecord({ key: 'k', value: 42 })).toThrow();
    expect(() => original({ key: 'k', value: 42 })).toThrow();
    expect(() => encodeRecord({ key: 'k', value: 'v', headers: null })).toThrow();
  });

  it('makes record batches that kafkajs decodes back to the same records', async () => {
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js');
    const Decoder = require('kafkajs/src/protocol/decoder.js');
    const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js');
    const messages = Array.from({ length: 3_000 }, (_, i) => ({ key: `r:rcpt-${i}`, value: i % 7 === 0 ? null : Buffer.alloc(60 + (i % 40), i & 0xff) }));
    const first = 1_700_000_000_000;
    const records = messages.map((message, i) => encodeRecord({ ...message, offsetDelta: i, timestampDelta: i % 5 }));
    const encoded = await RecordBatch({ records, firstTimestamp: first, maxTimestamp: first + 4, lastOffsetDelta: records.length - 1 });
    const batch = await decodeBatch(new Decoder(encoded.buffer));
    expect(batch.records.length).toBe(messages.length);
    batch.records.forEach((record: { key: Buffer; value: Buffer | null; offset: string; timestamp: string }, i: number) => {
      expect(record.key.toString()).toBe(messages[i]!.key);
      expect(record.value === null ? null : record.value.equals(messages[i]!.value!)).toBe(messages[i]!.value === null ? null : true);
      expect(record.offset).toBe(String(i));
      expect(record.timestamp).toBe(String(first + (i % 5)));
    });
  });
});

describe('record decoder of kafkajs fetches', () => {
  const Decoder = require('kafkajs/src/protocol/decoder.js');
  const original = kafkajsRecordDecoder();
  const encodeOriginal = kafkajsRecordEncoder();

  it('is what kafkajs record batches use once the project has loaded kafkajs', () => {
    expect(recordCodecInstalled).toBe(true);
    expect(kafkajsFetchRecordDecoder()).toBe(decodeRecord);
    expect(original).not.toBe(decodeRecord);
  });

  /** Both decoders over the same record bytes: the same record and the same position after it (bytes compared as hex). */
  function both(bytes: Buffer, context: BatchContext): { ours: unknown; theirs: unknown } {
    const read = (decode: typeof original) => {
      const decoder = new Decoder(bytes);
      try {
        const { key, value, batchContext, ...rest } = decode(decoder, context);
        return { ...rest, key: key?.toString('hex') ?? null, value: value?.toString('hex') ?? null, sameContext: batchContext === context, at: decoder.offset };
      } catch (error) {
        return { error: String(error) };
      }
    };
    return { ours: read(decodeRecord), theirs: read(original) };
  }

  it('reads what kafkajs reads, for every kind of key, value, delta and batch', () => {
    const contexts: BatchContext[] = [
      { firstOffset: '0', firstTimestamp: '1700000000000', maxTimestamp: '1700000000500', magicByte: 2, timestampType: 0 },
      { firstOffset: '987654321012', firstTimestamp: '1700000000000', maxTimestamp: '1700000009999', magicByte: 2, timestampType: 1 },
      { firstOffset: '9007199254740990', firstTimestamp: '-1', maxTimestamp: '-1', magicByte: 2, isControlBatch: true },
      { firstOffset: '18446744073709', firstTimestamp: '9223372036854775000', magicByte: 2 },
      { firstOffset: '42', firstTimestamp: '0042', magicByte: 2 },
    ];
    const keys = [null, '', 'r:rcpt-1', 'ünïcødé 🙂', Buffer.alloc(300, 3)];
    const values = [null, Buffer.alloc(76, 9), '', Buffer.alloc(20_000, 1)];
    const deltas = [0, 1, -1, 63, 64, 8_191, 8_192, 2 ** 27 - 1, 2 ** 27, 2 ** 29];
    let compared = 0;
    for (const context of contexts)
      for (const key of keys)
        for (const value of values)
          for (const delta of deltas) {
            const headers = compared % 11 === 0 ? { trace: 'abc', many: ['1', '2'] } : {};
            const encoded: Buffer = encodeOriginal({ key, value, headers, offsetDelta: Math.abs(delta), timestampDelta: delta }).buffer;
            // kafkajs hands the decoder the record without its length prefix.
            const length = new Decoder(encoded);
            const body = length.readVarIntBytes();
            const { ours, theirs } = both(body, context);
            expect(ours).toEqual(theirs);
            compared++;
          }
    expect(compared).toBe(contexts.length * keys.length * values.length * deltas.length);
  });

  it('leaves truncated or malformed records to kafkajs, with the same result or the same error', () => {
    const context: BatchContext = { firstOffset: '10', firstTimestamp: '1700000000000', magicByte: 2 };
    const body: Buffer = new Decoder(encodeOriginal({ key: 'k', value: Buffer.alloc(20, 1) }).buffer).readVarIntBytes();
    for (let cut = 0; cut < body.length; cut++) {
      const { ours, theirs } = both(body.subarray(0, cut), context);
      expect(ours).toEqual(theirs);
    }
  });
});
