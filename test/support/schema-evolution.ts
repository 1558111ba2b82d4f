import avro from 'avsc';

// Schema edits used by the contract tests: one compatible evolution step (a new field with a
// default) and the two classic breaking ones (a new field without a default, a removed enum
// symbol). Each returns a deep copy; the schema files are never touched.

type JsonObject = Record<string, unknown>;

export const ADDED_FIELD = 'addedInV2';
export const ADDED_DEFAULT = 'v2-default';

function copy(schema: avro.Schema): JsonObject {
  return structuredClone(schema) as unknown as JsonObject;
}

function fieldsOf(record: JsonObject): JsonObject[] {
  if (record.type !== 'record' || !Array.isArray(record.fields)) throw new Error('not a record schema');
  return record.fields as JsonObject[];
}

/** v2 = v1 plus a string field with a default: BACKWARD compatible (a v2 reader reads v1 data). */
export function withDefaultedField(schema: avro.Schema): avro.Schema {
  const next = copy(schema);
  fieldsOf(next).push({ name: ADDED_FIELD, type: 'string', default: ADDED_DEFAULT });
  return next as unknown as avro.Schema;
}

/** A new field without a default: a reader of the new schema cannot read old data. */
export function withRequiredField(schema: avro.Schema): avro.Schema {
  const next = copy(schema);
  fieldsOf(next).push({ name: 'requiredInV2', type: 'string' });
  return next as unknown as avro.Schema;
}

/** Every enum definition inside `schema` (depth-first), as live objects of that schema. */
function enumsOf(node: unknown, found: JsonObject[] = []): JsonObject[] {
  if (Array.isArray(node)) {
    for (const item of node) enumsOf(item, found);
  } else if (node && typeof node === 'object') {
    const object = node as JsonObject;
    if (object.type === 'enum' && Array.isArray(object.symbols)) found.push(object);
    for (const value of Object.values(object)) enumsOf(value, found);
  }
  return found;
}

/** The first enum without a default (removing one of its symbols is a breaking change). */
export function strictEnumName(schema: avro.Schema): string | null {
  const strict = enumsOf(schema).find((definition) => definition.default === undefined);
  return strict ? String(strict.name) : null;
}

/** Removes the last symbol of the named enum: old data holding that symbol becomes unreadable. */
export function withoutLastEnumSymbol(schema: avro.Schema, enumName: string): avro.Schema {
  const next = copy(schema);
  const definition = enumsOf(next).find((candidate) => candidate.name === enumName);
  if (!definition) throw new Error(`no enum ${enumName}`);
  definition.symbols = (definition.symbols as string[]).slice(0, -1);
  return next as unknown as avro.Schema;
}

/** Removes the named field: v1 without it is the "older writer" of today's schema. */
export function withoutFields(schema: avro.Schema, names: string[]): avro.Schema {
  const next = copy(schema);
  next.fields = fieldsOf(next).filter((field) => !names.includes(String(field.name)));
  return next as unknown as avro.Schema;
}

/** A random value of `type` (avsc's typings say `Type`, it is a value). */
export function randomValue<T = Record<string, unknown>>(type: avro.Type): T {
  return type.random() as unknown as T;
}

/** The symbol the input contracts' enums default to when a writer's symbol is not known. */
export const UNKNOWN_SYMBOL = 'UNKNOWN';

/** Every enum definition of `schema`: name, symbols and default (copies). */
export function enumDefinitions(schema: avro.Schema): { name: string; symbols: string[]; default: string | undefined }[] {
  return enumsOf(copy(schema)).map((definition) => ({
    name: String(definition.name),
    symbols: [...(definition.symbols as string[])],
    default: definition.default as string | undefined,
  }));
}

/** A newer writer's schema: the named enum with one more symbol (e.g. a WHATSAPP channel). */
export function withEnumSymbol(schema: avro.Schema, enumName: string, symbol: string): avro.Schema {
  const next = copy(schema);
  const definitions = enumsOf(next).filter((candidate) => candidate.name === enumName);
  if (definitions.length === 0) throw new Error(`no enum ${enumName}`);
  for (const definition of definitions) definition.symbols = [...(definition.symbols as string[]), symbol];
  return next as unknown as avro.Schema;
}

/** The schema as it was before its enums had UNKNOWN: that symbol and the enum defaults removed. */
export function withoutUnknownSymbols(schema: avro.Schema): avro.Schema {
  const next = copy(schema);
  for (const definition of enumsOf(next)) {
    if (!(definition.symbols as string[]).includes(UNKNOWN_SYMBOL)) continue;
    definition.symbols = (definition.symbols as string[]).filter((symbol) => symbol !== UNKNOWN_SYMBOL);
    delete definition.default;
    delete definition.doc;
  }
  return next as unknown as avro.Schema;
}
