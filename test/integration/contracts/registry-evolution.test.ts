import { randomBytes } from 'node:crypto';
import { COMPATIBILITY, SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RegistryConfig } from '../../../services/shared/config/common-config.ts';
import avro from 'avsc';
import { createSchemaRegistryClient, SchemaCodec } from '../../../services/shared/contracts/schema-codec.ts';
import { CONTRACTS, previousSchemaJsons, readSchemaJson, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { SAMPLE_BY_CONTRACT, sampleEngagement, sampleTrigger } from '../../support/sample-records.ts';
import { strictEnumName, withDefaultedField, withEnumSymbol, withRequiredField, withoutLastEnumSymbol, withoutUnknownSymbols } from '../../support/schema-evolution.ts';
import { stackConfig } from '../support/stack.ts';

// Evolution is checked by the registry the pipeline runs against, not only by avsc: each change
// is registered under a fresh subject with BACKWARD compatibility, as the bootstrap does.

const contracts = Object.keys(CONTRACTS) as ContractName[];
let registryConfig: RegistryConfig;
let registry: SchemaRegistry;

beforeAll(() => {
  registryConfig = stackConfig().registry;
  registry = createSchemaRegistryClient(registryConfig);
});

function freshSubject(contract: ContractName): string {
  return `sto.contract-test.${contract}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}-value`;
}

function register(subject: string, schema: avro.Schema): Promise<{ id: number }> {
  return registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: COMPATIBILITY.BACKWARD });
}

async function registryGet<T>(path: string): Promise<T> {
  const response = await fetch(`${registryConfig.url}${path}`);
  expect(response.status, `GET ${path}`).toBe(200);
  return (await response.json()) as T;
}

/** The error of a refused registration: the client's error carries the registry's HTTP status. */
async function refusal(promise: Promise<unknown>): Promise<{ status?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { status?: number; message: string };
  }
  throw new Error('the registry accepted an incompatible schema');
}

describe.each(contracts)('registry evolution of %s (BACKWARD)', (contract) => {
  const v1 = readSchemaJson(contract);
  const enumName = strictEnumName(v1);
  let subject: string;
  let v1Id: number;

  beforeAll(async () => {
    subject = freshSubject(contract);
    v1Id = (await register(subject, v1)).id;
  });

  it('registers v1 with BACKWARD compatibility on the subject', async () => {
    expect(v1Id).toBeGreaterThan(0);
    const config = await registryGet<{ compatibilityLevel: string }>(`/config/${encodeURIComponent(subject)}`);
    expect(config.compatibilityLevel.toUpperCase()).toBe('BACKWARD');
  });

  it('accepts a v2 with an added defaulted field', async () => {
    const { id } = await register(subject, withDefaultedField(v1));
    expect(id).not.toBe(v1Id);
    const versions = await registryGet<number[]>(`/subjects/${encodeURIComponent(subject)}/versions`);
    expect(versions).toEqual([1, 2]);
  });

  it('refuses a new field without a default (HTTP 409)', async () => {
    const error = await refusal(register(subject, withRequiredField(v1)));
    expect(error.status, error.message).toBe(409);
  });

  if (enumName) {
    it(`refuses removing a symbol of ${enumName} (HTTP 409)`, async () => {
      const error = await refusal(register(subject, withoutLastEnumSymbol(v1, enumName)));
      expect(error.status, error.message).toBe(409);
    });
  }

  it('keeps only the accepted versions', async () => {
    const versions = await registryGet<number[]>(`/subjects/${encodeURIComponent(subject)}/versions`);
    expect(versions).toEqual([1, 2]);
  });
});

describe.each([
  ['engagement', sampleEngagement],
  ['trigger', sampleTrigger],
] as const)('registry: %s, written by upstream producers, gets UNKNOWN enum defaults', (contract, sample) => {
  it('the bootstrap can register it over the version before, and a newer writer adding WHATSAPP is accepted and read as UNKNOWN', async () => {
    const subject = freshSubject(contract);
    const previous = await register(subject, withoutUnknownSymbols(readSchemaJson(contract)));
    const current = await register(subject, readSchemaJson(contract));
    expect(current.id).not.toBe(previous.id);
    const newerSchema = withEnumSymbol(readSchemaJson(contract), 'Channel', 'WHATSAPP');
    const newer = await register(subject, newerSchema);
    expect(await registryGet<number[]>(`/subjects/${encodeURIComponent(subject)}/versions`)).toEqual([1, 2, 3]);

    const body = avro.Type.forSchema(newerSchema).toBuffer({ ...sample(1), channel: 'WHATSAPP' });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    framed.writeInt32BE(newer.id, 1);
    const read = await new SchemaCodec(registry).decode<{ channel: string }>(contract, framed);
    expect(read.channel).toBe('UNKNOWN');
  });
});

describe.each(contracts.filter((contract) => previousSchemaJsons(contract).length > 0))('registry: %s, the released versions in order', (contract) => {
  it('registers every earlier version, then the current one over them (BACKWARD), and a record of the oldest writer still decodes with the defaults', async () => {
    const subject = freshSubject(contract);
    const earlier = previousSchemaJsons(contract);
    const ids: number[] = [];
    for (const schema of [...earlier, readSchemaJson(contract)]) ids.push((await register(subject, schema)).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await registryGet<number[]>(`/subjects/${encodeURIComponent(subject)}/versions`)).toEqual(ids.map((_, index) => index + 1));

    // A producer still on the first version keeps writing; the current reader fills the new fields.
    const oldest = avro.Type.forSchema(earlier[0]!);
    const currentType = avro.Type.forSchema(readSchemaJson(contract));
    const written = oldest.clone(SAMPLE_BY_CONTRACT[contract](1)) as Record<string, unknown>;
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), oldest.toBuffer(written)]);
    framed.writeInt32BE(ids[0]!, 1);
    const read = await new SchemaCodec(registry).decode<Record<string, unknown>>(contract, framed);
    const added = (currentType as avro.types.RecordType).fields.filter((field) => !(oldest as avro.types.RecordType).fields.some((old) => old.name === field.name));
    expect(added.length).toBeGreaterThan(0);
    for (const field of added) expect(read[field.name], field.name).toEqual(field.defaultValue());
    for (const [name, value] of Object.entries(written)) expect(read[name], name).toEqual(value);
  });
});
