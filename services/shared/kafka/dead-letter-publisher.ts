import type { IHeaders, Message, Producer } from 'kafkajs';
import { deadLetterTopic } from '../config/common-config.ts';
import type { DeadLetter } from '../contracts/record-types.ts';
import type { SchemaCodec, Writer } from '../contracts/schema-codec.ts';
import { ErrorCode, type StoError, errorMessage } from '../errors.ts';

export interface FailedRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

/**
 * Publishes a record that cannot be processed to `<topic>.dlq`, with its original bytes and the
 * reason. It throws when the dead-letter write fails: the caller must then not advance its offset.
 */
export class DeadLetterPublisher {
  readonly #producer: Producer;
  readonly #codec: SchemaCodec;
  readonly #writer: Writer;
  readonly #service: string;
  readonly #clock: () => number;
  readonly #onPublished: (topic: string, code: string) => void;

  constructor(options: {
    producer: Producer;
    codec: SchemaCodec;
    writer: Writer;
    service: string;
    clock: () => number;
    onPublished?: (topic: string, code: string) => void;
  }) {
    this.#producer = options.producer;
    this.#codec = options.codec;
    this.#writer = options.writer;
    this.#service = options.service;
    this.#clock = options.clock;
    this.#onPublished = options.onPublished ?? (() => undefined);
  }

  async publish(record: FailedRecord, error: unknown, topic = deadLetterTopic(record.topic)): Promise<void> {
    const letter = this.letter(record, error, topic);
    await this.#producer.send({ topic: letter.topic, messages: [letter.message] });
    this.#onPublished(record.topic, String(letter.message.headers!['sto-error-code']));
  }

  /**
   * The dead-letter record for `record`, to be produced by the caller (e.g. inside a commit that
   * also deletes the record's state). `topic` defaults to `<record.topic>.dlq`.
   */
  letter(record: FailedRecord, error: unknown, topic = deadLetterTopic(record.topic)): { topic: string; message: Message } {
    const code = (error as Partial<StoError>).code ?? ErrorCode.INVALID_FIELD;
    const headers: Record<string, Buffer> = {};
    for (const [name, value] of Object.entries(record.headers ?? {})) {
      if (value === undefined) continue;
      headers[name] = Buffer.isBuffer(value) ? value : Buffer.from(Array.isArray(value) ? value.join(',') : String(value));
    }
    const letter: DeadLetter = {
      sourceTopic: record.topic,
      sourcePartition: record.partition,
      sourceOffset: Number(record.offset),
      sourceTimestamp: Number(record.timestamp),
      key: record.key,
      value: record.value,
      headers,
      errorCode: code,
      reason: errorMessage(error).slice(0, 2_000),
      service: this.#service,
      failedAt: this.#clock(),
    };
    return { topic, message: { key: record.key, value: this.#codec.encode(this.#writer, letter), headers: { 'sto-error-code': code } } };
  }
}
