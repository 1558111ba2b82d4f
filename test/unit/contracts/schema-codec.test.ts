import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { CONTRACTS, readSchemaJson, readerType, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { ErrorCode, InputError, StoError } from '../../../services/shared/errors.ts';
import { SAMPLE_BY_CONTRACT, sampleEngagement, sampleTrigger } from '../../support/sample-records.ts';
import { withoutFields } from '../../support/schema-evolution.ts';

/**
 * The two registry calls SchemaCodec makes, answered from memory the way
 * @kafkajs/confluent-schema-registry answers them: getSchema resolves to an avsc Type, failures
 * carry the HTTP status.
 */
class FakeRegistry {
  readonly #byId = new Map<number, string>();
  readonly #bySubject = new Map<string, number>();
  #nextId = 100;
  lookups = 0;
  failNext: { status?: number; name?: string; message: string } | null = null;
  /** Lookups still to answer 404 although the id exists (a registry failing over). */
  transientNotFound = 0;

  add(subject: string, schema: unknown): number {
    const id = this.#nextId++;
    this.#byId.set(id, JSON.stringify(schema));
    this.#bySubject.set(`${subject}|${JSON.stringify(schema)}`, id);
    return id;
  }

  async getSchema(id: number): Promise<avro.Type> {
    this.lookups += 1;
    if (this.failNext) {
      const failure = this.failNext;
      this.failNext = null;
      const error = Object.assign(new Error(failure.message), failure.status === undefined ? {} : { status: failure.status });
      if (failure.name) error.name = failure.name;
      throw error;
    }
    const schema = this.#byId.get(id);
    if (schema && this.transientNotFound > 0) {
      this.transientNotFound -= 1;
      throw Object.assign(new Error(`Schema ${id} not found`), { status: 404 });
    }
    if (!schema) throw Object.assign(new Error(`Schema ${id} not found`), { status: 404 });
    return avro.Type.forSchema(JSON.parse(schema) as avro.Schema);
  }

  async getRegistryIdBySchema(subject: string, schema: { schema: string }): Promise<number> {
    const id = this.#bySubject.get(`${subject}|${schema.schema}`);
    if (id === undefined) throw Object.assign(new Error('Schema not found'), { status: 404 });
    return id;
  }
}

const GRACE_MS = 10_000;

/** A codec over the fake registry, with a clock that its own backoff sleeps advance. */
function setUp(): { registry: FakeRegistry; codec: SchemaCodec; now: () => number } {
  const registry = new FakeRegistry();
  for (const contract of Object.keys(CONTRACTS) as ContractName[]) registry.add(`${contract}-value`, readSchemaJson(contract));
  let now = 0;
  const codec = new SchemaCodec(registry as unknown as SchemaRegistry, {
    unknownIdGraceMs: GRACE_MS,
    clock: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  });
  return { registry, codec, now: () => now };
}

async function rejection(promise: Promise<unknown>): Promise<StoError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StoError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('SchemaCodec (Confluent framing)', () => {
  it.each(Object.keys(CONTRACTS) as ContractName[])('frames and decodes %s', async (contract) => {
    const { codec } = setUp();
    const writer = await codec.writer(contract, `${contract}-value`);
    const value = SAMPLE_BY_CONTRACT[contract](3);
    const framed = codec.encode(writer, value);
    expect(framed.readUInt8(0)).toBe(0);
    expect(framed.readInt32BE(1)).toBe(writer.schemaId);
    expect(framed.subarray(5)).toEqual(readerType(contract).toBuffer(value));
    expect(await codec.decode(contract, framed)).toEqual(value);
  });

  it('refuses to encode an invalid record, naming the field', async () => {
    const { codec } = setUp();
    const writer = await codec.writer('trigger', 'trigger-value');
    const error = (() => {
      try {
        codec.encode(writer, { ...sampleTrigger(1), windowHours: 'soon' });
      } catch (caught) {
        return caught as StoError;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(InputError);
    expect(error?.code).toBe(ErrorCode.INVALID_FIELD);
    expect(error?.message).toContain('windowHours');
  });

  it('reports an unregistered writer schema as REGISTRY_UNAVAILABLE naming the bootstrap step', async () => {
    const { codec } = setUp();
    const error = await rejection(codec.writer('engagement', 'nobody-registered-this-value'));
    expect(error.code).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    expect(error.message).toContain('bootstrap');
  });

  it.each([
    ['null', null],
    ['empty', Buffer.alloc(0)],
    ['shorter than the header', Buffer.from([0, 0, 0, 1])],
  ])('rejects a %s record as UNDECODABLE', async (_label, bytes) => {
    const { codec } = setUp();
    const error = await rejection(codec.decode('engagement', bytes));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.UNDECODABLE);
  });

  it('rejects a bad magic byte as UNDECODABLE without asking the registry', async () => {
    const { codec, registry } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    framed.writeUInt8(1, 0);
    const error = await rejection(codec.decode('engagement', framed));
    expect(error.code).toBe(ErrorCode.UNDECODABLE);
    expect(registry.lookups).toBe(0);
  });

  it('rejects a truncated body and trailing bytes as UNDECODABLE', async () => {
    const { codec } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    for (const cut of [framed.length - 1, framed.length - 10, 6]) {
      const error = await rejection(codec.decode('engagement', framed.subarray(0, cut)));
      expect(error).toBeInstanceOf(InputError);
      expect(error.code).toBe(ErrorCode.UNDECODABLE);
    }
    const trailing = await rejection(codec.decode('engagement', Buffer.concat([framed, Buffer.from([0])])));
    expect(trailing.code).toBe(ErrorCode.UNDECODABLE);
  });

  it('rejects an id the registry does not know (404) as UNKNOWN_SCHEMA_ID once the grace has passed', async () => {
    const { codec, registry, now } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    framed.writeInt32BE(987_654, 1);
    const error = await rejection(codec.decode('engagement', framed));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.UNKNOWN_SCHEMA_ID);
    expect(now()).toBe(GRACE_MS);
    expect(registry.lookups).toBeGreaterThan(5);
    // The next record of that id is dead-lettered at once (one lookup, no wait), not after another grace.
    const lookups = registry.lookups;
    expect((await rejection(codec.decode('engagement', framed))).code).toBe(ErrorCode.UNKNOWN_SCHEMA_ID);
    expect(registry.lookups).toBe(lookups + 1);
    expect(now()).toBe(GRACE_MS);
  });

  it('asks again when the registry answers 404 for an id it knows (failover), instead of dead-lettering', async () => {
    const { codec, registry, now } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    registry.transientNotFound = 4;
    expect(await codec.decode('engagement', framed)).toEqual(sampleEngagement(1));
    expect(registry.lookups).toBe(5);
    expect(now()).toBeLessThan(GRACE_MS);
  });

  it('asks the registry once for a new id however many records of it wait together', async () => {
    const { codec, registry } = setUp();
    const writer = await codec.writer('engagement', 'engagement-value');
    registry.transientNotFound = 2;
    const values = await Promise.all([1, 2, 3, 4].map((i) => codec.decode('engagement', codec.encode(writer, sampleEngagement(i)))));
    expect(values).toEqual([1, 2, 3, 4].map((i) => sampleEngagement(i)));
    expect(registry.lookups).toBe(3);
  });

  it("rejects another contract's schema id as WRONG_SCHEMA", async () => {
    const { codec } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    const error = await rejection(codec.decode('trigger', framed));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
    expect(error.message).toContain('io.sto.v1.EngagementEvent');
  });

  it('rejects a same-named writer that the reader cannot resolve as WRONG_SCHEMA', async () => {
    const { codec, registry } = setUp();
    const incompatible = readSchemaJson('engagement') as unknown as { fields: { name: string; type: unknown }[] };
    const changed = { ...incompatible, fields: incompatible.fields.map((field) => (field.name === 'recipientId' ? { ...field, type: 'int' } : field)) };
    const id = registry.add('elsewhere-value', changed);
    const body = avro.Type.forSchema(changed as avro.Schema).toBuffer({ ...sampleEngagement(1), recipientId: 7 });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    framed.writeInt32BE(id, 1);
    const error = await rejection(codec.decode('engagement', framed));
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
  });

  it('treats a registry outage as retriable, and does not cache the failure', async () => {
    const { codec, registry } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    registry.failNext = { status: 503, message: 'Service Unavailable' };
    const outage = await rejection(codec.decode('engagement', framed));
    expect(outage).not.toBeInstanceOf(InputError);
    expect(outage.code).toBe(ErrorCode.REGISTRY_UNAVAILABLE);
    expect(outage.retriable).toBe(true);
    registry.failNext = { message: 'connect ECONNREFUSED' };
    expect((await rejection(codec.decode('engagement', framed))).retriable).toBe(true);
    // What the client throws once its retries of a stalled or refused request are spent: no HTTP
    // answer, reported as status 400. Not the registry refusing the id: no dead letter.
    for (const message of ['Error, status 400: Timeout (5000ms)', 'Error, status 400: connect ECONNREFUSED 127.0.0.1:8081']) {
      registry.failNext = { status: 400, message };
      const stalled = await rejection(codec.decode('engagement', framed));
      expect(stalled).not.toBeInstanceOf(InputError);
      expect(stalled.retriable).toBe(true);
    }
    expect(await codec.decode('engagement', framed)).toEqual(sampleEngagement(1));
  });

  it('rejects an id whose schema the client cannot parse as WRONG_SCHEMA, not as an outage', async () => {
    const { codec, registry } = setUp();
    const framed = codec.encode(await codec.writer('engagement', 'engagement-value'), sampleEngagement(1));
    // What @kafkajs/confluent-schema-registry throws when avsc refuses the registry's schema.
    registry.failNext = { name: 'ConfluentSchemaRegistryArgumentError', message: 'union defaults must match the first branch' };
    const error = await rejection(codec.decode('engagement', framed));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
    expect(error.retriable).toBe(false);
  });

  it('asks the registry once per writer schema id', async () => {
    const { codec, registry } = setUp();
    const writer = await codec.writer('engagement', 'engagement-value');
    for (let i = 0; i < 20; i += 1) await codec.decode('engagement', codec.encode(writer, sampleEngagement(i)));
    expect(registry.lookups).toBe(1);
  });

  it('reads an older writer (fields added since) with the current defaults', async () => {
    const { codec, registry } = setUp();
    const added = ['machineOpen', 'userAgent', 'deliveredAt', 'attributes'];
    const v0 = withoutFields(readSchemaJson('engagement'), added);
    const id = registry.add('older-value', v0);
    const { machineOpen: _m, userAgent: _u, deliveredAt: _d, attributes: _a, ...older } = sampleEngagement(1);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), avro.Type.forSchema(v0).toBuffer(older)]);
    framed.writeInt32BE(id, 1);
    expect(await codec.decode('engagement', framed)).toEqual({ ...older, machineOpen: null, userAgent: null, deliveredAt: null, attributes: {} });
  });
});
