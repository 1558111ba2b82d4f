import { randomBytes } from 'node:crypto';
import { COMPATIBILITY, SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TopicsConfig } from '../../../services/shared/config/common-config.ts';
import { registerSchemas } from '../../../services/shared/contracts/register-schemas.ts';
import { createSchemaCodec, createSchemaRegistryClient, type SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { CONTRACTS, readSchemaJson, valueSubject, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { ErrorCode, InputError, type StoError } from '../../../services/shared/errors.ts';
import { topicPlan } from '../../../services/shared/kafka/topic-plan.ts';
import { SAMPLE_BY_CONTRACT, sampleEngagement, sampleTrigger } from '../../support/sample-records.ts';
import { withoutFields } from '../../support/schema-evolution.ts';
import { stackConfig, uniqueTopics } from '../support/stack.ts';

// SchemaCodec against the real registry: ids come from registration, writer schemas from
// GET /schemas/ids/{id}. Each test decodes with a fresh codec so nothing is served from its cache.

const contracts = Object.keys(CONTRACTS) as ContractName[];
let registry: SchemaRegistry;
let topics: TopicsConfig;
let registeredIds: Record<string, number>;
const subjectOf = new Map<ContractName, string>();

beforeAll(async () => {
  registry = createSchemaRegistryClient(stackConfig().registry);
  topics = uniqueTopics('codec');
  const plan = topicPlan(topics, 1);
  registeredIds = await registerSchemas(registry, plan);
  for (const spec of plan) if (spec.contract && !subjectOf.has(spec.contract)) subjectOf.set(spec.contract, valueSubject(spec.name));
});

function freshCodec(): SchemaCodec {
  // A short grace: the unknown-id test waits it out once.
  return createSchemaCodec({ ...stackConfig().registry, unknownIdGraceMs: 1_000 });
}

async function framed(contract: ContractName, value: unknown): Promise<Buffer> {
  const codec = freshCodec();
  return codec.encode(await codec.writer(contract, subjectOf.get(contract) ?? ''), value);
}

async function rejection(promise: Promise<unknown>): Promise<StoError> {
  try {
    await promise;
  } catch (error) {
    return error as StoError;
  }
  throw new Error('expected the record to be rejected');
}

/** Registers `schema` under a subject of its own and returns its id. */
async function registerElsewhere(label: string, schema: avro.Schema): Promise<number> {
  const subject = `sto.codec-test.${label}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}-value`;
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: COMPATIBILITY.BACKWARD });
  return id;
}

function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

describe('SchemaCodec with the registry', () => {
  it('looks up the ids the bootstrap registered', async () => {
    const codec = freshCodec();
    for (const contract of contracts) {
      const subject = subjectOf.get(contract) ?? '';
      const writer = await codec.writer(contract, subject);
      expect(writer.schemaId, contract).toBe(registeredIds[subject]);
    }
  });

  it.each(contracts)('frames %s with magic byte 0 and the schema id, and decodes it through the registry', async (contract) => {
    const value = SAMPLE_BY_CONTRACT[contract](5);
    const bytes = await framed(contract, value);
    expect(bytes.readUInt8(0)).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(registeredIds[subjectOf.get(contract) ?? '']);
    expect(await freshCodec().decode(contract, bytes)).toEqual(value);
    // The registry client's own wire decoder (writer schema only) reads the same bytes.
    expect(await createSchemaRegistryClient(stackConfig().registry).decode(bytes)).toEqual(value);
  });

  it('rejects a bad magic byte as UNDECODABLE', async () => {
    const bytes = await framed('engagement', sampleEngagement(1));
    bytes.writeUInt8(2, 0);
    const error = await rejection(freshCodec().decode('engagement', bytes));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.UNDECODABLE);
  });

  it('rejects a schema id the registry does not know as UNKNOWN_SCHEMA_ID', async () => {
    const bytes = await framed('engagement', sampleEngagement(1));
    bytes.writeInt32BE(2_000_000_000, 1);
    const error = await rejection(freshCodec().decode('engagement', bytes));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.UNKNOWN_SCHEMA_ID);
  });

  it('rejects a truncated body as UNDECODABLE', async () => {
    const bytes = await framed('trigger', sampleTrigger(3));
    const codec = freshCodec();
    for (const length of [bytes.length - 1, Math.floor(bytes.length / 2), 6]) {
      const error = await rejection(codec.decode('trigger', bytes.subarray(0, length)));
      expect(error, `cut at ${length}`).toBeInstanceOf(InputError);
      expect(error.code).toBe(ErrorCode.UNDECODABLE);
    }
  });

  it("rejects another contract's schema id as WRONG_SCHEMA", async () => {
    const bytes = await framed('engagement', sampleEngagement(1));
    const error = await rejection(freshCodec().decode('trigger', bytes));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
  });

  it('reads an older writer (v1 written, today\'s reader) with the reader\'s defaults', async () => {
    const added = ['timeZone', 'quietHours', 'quietHoursPolicy', 'holdoutShare', 'attributes'];
    const older = withoutFields(readSchemaJson('trigger'), added);
    const id = await registerElsewhere('trigger-older', older);
    const { timeZone: _z, quietHours: _q, quietHoursPolicy: _p, holdoutShare: _h, attributes: _a, ...olderValue } = sampleTrigger(7);
    const bytes = frame(id, avro.Type.forSchema(older).toBuffer(olderValue));
    expect(await freshCodec().decode('trigger', bytes)).toEqual({
      ...olderValue,
      timeZone: null,
      quietHours: null,
      quietHoursPolicy: null,
      holdoutShare: null,
      attributes: {},
    });
  });

  /** Registers raw content with a plain HTTP call, as any other client of the registry could. */
  async function registerRaw(label: string, body: object): Promise<number> {
    const subject = `sto.codec-test.${label}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}-value`;
    const response = await fetch(`${stackConfig().registry.url}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as { id: number }).id;
  }

  it('rejects a schema id of a non-Avro schema as WRONG_SCHEMA', async () => {
    const id = await registerRaw('json', {
      schemaType: 'JSON',
      schema: JSON.stringify({ type: 'object', properties: { recipientId: { type: 'string' } } }),
    });
    const error = await rejection(freshCodec().decode('engagement', frame(id, Buffer.from('{"recipientId":"r-1"}'))));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
  });

  it('rejects (does not retry forever) an id whose Avro schema the registry took but avsc refuses', async () => {
    // The registry stores this without checking the default; avsc insists a union default match
    // the first branch. A record carrying this id must go to the dead-letter topic.
    const id = await registerRaw('bad-default', {
      schema: JSON.stringify({ type: 'record', name: 'BadDefault', fields: [{ name: 'a', type: ['null', 'int'], default: 3 }] }),
    });
    const error = await rejection(freshCodec().decode('engagement', frame(id, Buffer.from([2, 4]))));
    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe(ErrorCode.WRONG_SCHEMA);
    expect(error.retriable).toBe(false);
  });
});
