import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TOPICS } from '../../../services/shared/config/common-config.ts';
import { CONTRACTS, previousSchemaJsons, readSchemaJson, readerType, type ContractName } from '../../../services/shared/contracts/schema-files.ts';
import { topicPlan } from '../../../services/shared/kafka/topic-plan.ts';
import {
  ADDED_DEFAULT,
  ADDED_FIELD,
  enumDefinitions,
  randomValue,
  strictEnumName,
  UNKNOWN_SYMBOL,
  withDefaultedField,
  withEnumSymbol,
  withRequiredField,
  withoutLastEnumSymbol,
  withoutUnknownSymbols,
} from '../../support/schema-evolution.ts';

const SCHEMA_DIR = fileURLToPath(new URL('../../../schemas/', import.meta.url));
const contracts = Object.keys(CONTRACTS) as ContractName[];

describe('schemas/', () => {
  it('has exactly one contract per schema file (current or earlier version)', () => {
    const files = readdirSync(SCHEMA_DIR).filter((file) => file.endsWith('.avsc')).sort();
    const named = contracts.flatMap((contract) => {
      const entry = CONTRACTS[contract] as { file: string; previous?: readonly string[] };
      return [entry.file, ...(entry.previous ?? [])];
    });
    expect(named.sort()).toEqual(files);
  });

  it.each(contracts)('%s: the current version reads every earlier version (BACKWARD), filling the defaults', (contract) => {
    const current = readerType(contract);
    for (const earlierSchema of previousSchemaJsons(contract)) {
      const earlier = avro.Type.forSchema(earlierSchema);
      expect(earlier.name).toBe(CONTRACTS[contract].fullName);
      const resolver = current.createResolver(earlier);
      for (let i = 0; i < 50; i += 1) {
        const written = randomValue(earlier) as Record<string, unknown>;
        const read = current.fromBuffer(earlier.toBuffer(written), resolver) as Record<string, unknown>;
        for (const [field, value] of Object.entries(written)) expect(read[field]).toEqual(value);
      }
    }
  });

  it('gives every topic with a contract a schema file', () => {
    for (const spec of topicPlan(DEFAULT_TOPICS, 6)) {
      if (spec.contract) expect(Object.keys(CONTRACTS)).toContain(spec.contract);
    }
  });

  it.each(contracts)('%s parses, under its declared full name, with valid defaults', (contract) => {
    const schema = readSchemaJson(contract);
    // avsc checks every field default against its type while parsing.
    const type = avro.Type.forSchema(schema);
    expect(type.name).toBe(CONTRACTS[contract].fullName);
    expect(type.typeName).toBe('record');
  });

  it.each(contracts)('%s round-trips random records', (contract) => {
    const type = readerType(contract);
    for (let i = 0; i < 50; i += 1) {
      const value = randomValue(type);
      expect(type.isValid(value)).toBe(true);
      expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
    }
  });
});

describe.each(contracts)('evolution of %s', (contract) => {
  const v1 = readerType(contract);

  it('a v2 with an added defaulted field reads v1 data, filling the default', () => {
    const v2 = avro.Type.forSchema(withDefaultedField(readSchemaJson(contract)));
    const resolver = v2.createResolver(v1);
    for (let i = 0; i < 50; i += 1) {
      const written = randomValue(v1);
      const read = v2.fromBuffer(v1.toBuffer(written), resolver) as Record<string, unknown>;
      expect(read[ADDED_FIELD]).toBe(ADDED_DEFAULT);
      const { [ADDED_FIELD]: _added, ...rest } = read;
      expect(rest).toEqual({ ...written });
    }
  });

  it('a v1 reader skips the field added in v2 (mixed-version rollouts)', () => {
    const v2 = avro.Type.forSchema(withDefaultedField(readSchemaJson(contract)));
    const resolver = v1.createResolver(v2);
    const written = { ...randomValue(v2), [ADDED_FIELD]: 'from a v2 writer' };
    const read = v1.fromBuffer(v2.toBuffer(written), resolver) as Record<string, unknown>;
    expect(read[ADDED_FIELD]).toBeUndefined();
  });

  it('a new field without a default cannot read v1 data', () => {
    const broken = avro.Type.forSchema(withRequiredField(readSchemaJson(contract)));
    expect(() => broken.createResolver(v1)).toThrow();
  });

  const enumName = strictEnumName(readSchemaJson(contract));
  if (enumName) {
    it(`removing a symbol of ${enumName} cannot read v1 data`, () => {
      const broken = avro.Type.forSchema(withoutLastEnumSymbol(readSchemaJson(contract), enumName));
      expect(() => broken.createResolver(v1)).toThrow();
    });
  }
});

/** Contracts other teams' producers write: their enums must stay readable when a writer adds a symbol. */
const INPUT_CONTRACTS: ContractName[] = ['engagement', 'trigger'];

describe.each(INPUT_CONTRACTS)('enums of %s (written by upstream producers)', (contract) => {
  const schema = readSchemaJson(contract);
  const reader = readerType(contract);
  const enums = enumDefinitions(schema);

  it('each have an UNKNOWN symbol and default to it', () => {
    expect(enums.length).toBeGreaterThan(0);
    for (const definition of enums) {
      expect(definition.symbols, definition.name).toContain(UNKNOWN_SYMBOL);
      expect(definition.default, definition.name).toBe(UNKNOWN_SYMBOL);
    }
  });

  it.each(enums.map((definition) => definition.name))('a newer writer that adds a symbol to %s stays readable: the symbol reads as UNKNOWN', (enumName) => {
    const symbol = enumName === 'Channel' ? 'WHATSAPP' : `NEW_${enumName.toUpperCase()}`;
    const writer = avro.Type.forSchema(withEnumSymbol(schema, enumName, symbol));
    const resolver = reader.createResolver(writer);
    // Every record that holds the new symbol somewhere reads, with UNKNOWN in its place.
    let checked = 0;
    for (let i = 0; i < 400 && checked < 20; i += 1) {
      const written = randomValue(writer);
      if (!writer.toString(written as never).includes(`"${symbol}"`)) continue;
      checked += 1;
      const read = reader.toString(reader.fromBuffer(writer.toBuffer(written), resolver) as never);
      expect(read).not.toContain(`"${symbol}"`);
      expect(read).toContain(`"${UNKNOWN_SYMBOL}"`);
    }
    expect(checked, `random records holding ${symbol}`).toBeGreaterThan(0);
  });

  it('the version before UNKNOWN (the registered one until now) is read by the current reader (BACKWARD)', () => {
    const previous = avro.Type.forSchema(withoutUnknownSymbols(schema));
    const resolver = reader.createResolver(previous);
    for (let i = 0; i < 50; i += 1) {
      const written = randomValue(previous);
      expect(reader.fromBuffer(previous.toBuffer(written), resolver)).toEqual(written);
    }
  });

  it('without the defaults, a newer writer would fail every record (the defect this guards)', () => {
    const strict = avro.Type.forSchema(withoutUnknownSymbols(schema));
    expect(() => strict.createResolver(avro.Type.forSchema(withEnumSymbol(withoutUnknownSymbols(schema), 'Channel', 'WHATSAPP')))).toThrow();
  });
});
