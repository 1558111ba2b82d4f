import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4 encodes each record of a produce request with an Encoder of its own: a zero-filled
 * 512-byte buffer, an array and a Buffer per varint, Long objects for the timestamp delta, then a
 * copy into the record batch. The engine produces one changelog record per changed recipient, and
 * that encoding was about 9% of its CPU time in a profile, the allocations part of its GC. It
 * decodes each fetched record with a Decoder of its own and 64-bit Long arithmetic on decimal
 * strings (the batch's first offset and timestamp parsed again for every record, the sums printed
 * back). This module puts an encoder and a decoder that give the same bytes and the same records
 * in the module cache before kafkajs loads (services/shared/kafka/kafkajs.ts imports it first);
 * records they do not cover (headers, deltas or lengths of more than four varint bytes, offsets
 * or timestamps past 2^53, keys or values that are neither bytes, strings nor null) go to
 * kafkajs' own code unchanged.
 */
const require = createRequire(import.meta.url);
const RECORD_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const PRODUCE_MODULE = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
const RECORD_DECODER_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const BATCH_DECODER_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const LOG_APPEND_TIME = 1;

/** What kafkajs' produce request hands its record encoder (a message plus its deltas). */
export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: unknown;
  value?: unknown;
  headers?: unknown;
}

/** The part of kafkajs' Encoder that the record batch reads from an encoded record. */
export interface EncodedRecord {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}

type RecordEncoder = (record: RecordInput) => EncodedRecord;

const originalEncoder: RecordEncoder = require(RECORD_MODULE);

const LIMIT = 2 ** 30;

/** Zigzag (as kafkajs' 32-bit and 64-bit zigzag give for |value| < 2^30). */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function varintSize(unsigned: number): number {
  return unsigned < 0x80 ? 1 : unsigned < 0x4000 ? 2 : unsigned < 0x200000 ? 3 : unsigned < 0x10000000 ? 4 : 5;
}

function writeVarint(target: Buffer, at: number, unsigned: number): number {
  while (unsigned >= 0x80) {
    target[at++] = (unsigned & 0x7f) | 0x80;
    unsigned >>>= 7;
  }
  target[at++] = unsigned;
  return at;
}

/** Bytes of a key or value: -1 for null, -2 when this encoder does not cover its type. */
function byteSize(bytes: unknown): number {
  if (bytes === null || bytes === undefined) return -1;
  if (Buffer.isBuffer(bytes)) return bytes.length;
  if (typeof bytes === 'string') return Buffer.byteLength(bytes, 'utf8');
  return -2;
}

function writeBytes(target: Buffer, at: number, bytes: unknown, size: number): number {
  // zigzag(-1) = 1: kafkajs writes a null key or value as the varint -1.
  if (size < 0) return writeVarint(target, at, 1);
  at = writeVarint(target, at, size * 2);
  if (typeof bytes === 'string') target.write(bytes, at, size, 'utf8');
  else (bytes as Buffer).copy(target, at);
  return at + size;
}

function hasHeaders(headers: unknown): boolean {
  if (headers === undefined) return false;
  if (headers === null || typeof headers !== 'object') return true;
  for (const _ in headers) return true;
  return Object.getOwnPropertySymbols(headers).length > 0;
}

/** kafkajs' Record v0 bytes (Length, Attributes, TimestampDelta, OffsetDelta, Key, Value, no Headers). */
export function encodeRecord(record: RecordInput): EncodedRecord {
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = record;
  if (hasHeaders(headers) || !Number.isInteger(offsetDelta) || !Number.isInteger(timestampDelta) || Math.abs(offsetDelta) >= LIMIT || Math.abs(timestampDelta) >= LIMIT) {
    return originalEncoder(record);
  }
  const keySize = byteSize(key);
  const valueSize = byteSize(value);
  if (keySize === -2 || valueSize === -2) return originalEncoder(record);
  const timestamp = zigzag(timestampDelta);
  const offset = zigzag(offsetDelta);
  const body =
    1 +
    varintSize(timestamp) +
    varintSize(offset) +
    (keySize < 0 ? 1 : varintSize(keySize * 2) + keySize) +
    (valueSize < 0 ? 1 : varintSize(valueSize * 2) + valueSize) +
    1;
  const total = varintSize(body * 2) + body;
  // From the shared pool (records are small): no zero fill, every byte is written below.
  const target = Buffer.allocUnsafe(total);
  let at = writeVarint(target, 0, body * 2);
  target[at++] = 0;
  at = writeVarint(target, at, timestamp);
  at = writeVarint(target, at, offset);
  at = writeBytes(target, at, key, keySize);
  at = writeBytes(target, at, value, valueSize);
  target[at++] = 0; // no headers: the varint 0
  return { buf: target, offset: at, buffer: target };
}

/** kafkajs' own record encoder, to compare with. */
export function kafkajsRecordEncoder(): RecordEncoder {
  return originalEncoder;
}

/** kafkajs' Decoder, as far as the record decoder reads it. */
interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
}

/** The batch fields kafkajs hands each record's decoder (offsets and timestamps as decimal strings). */
export interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  maxTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  [field: string]: unknown;
}

/** A fetched record as kafkajs' decoder returns it. */
export interface DecodedRecord {
  magicByte: number | undefined;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
  isControlRecord: boolean;
  batchContext: BatchContext;
}

type RecordDecoder = (decoder: KafkajsDecoder, batchContext?: BatchContext) => DecodedRecord;

const originalDecoder: RecordDecoder = require(RECORD_DECODER_MODULE);

/** The batch whose first offset and timestamp were parsed last (its records come one after the other). */
let parsedContext: BatchContext | null = null;
let parsedOffset = Number.NaN;
let parsedTimestamp = Number.NaN;

/** A decimal string as a number, NaN unless it is the canonical form of a safe integer. */
function safeInteger(text: unknown): number {
  if (typeof text !== 'string') return Number.NaN;
  const value = Number(text);
  return Number.isSafeInteger(value) && String(value) === text ? value : Number.NaN;
}

/** The zigzag varint at `at` (at most four bytes), or NaN; the position after it goes to `next`. */
let next = 0;
function readVarint(bytes: Buffer, at: number, end: number): number {
  let unsigned = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= end) return Number.NaN;
    const byte = bytes[at++]!;
    unsigned += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      next = at;
      return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
    }
  }
  return Number.NaN;
}

/** kafkajs' Record v0 decoder for records without headers; the rest it decodes itself. */
export function decodeRecord(decoder: KafkajsDecoder, batchContext: BatchContext = {}): DecodedRecord {
  if (batchContext !== parsedContext) {
    parsedContext = batchContext;
    parsedOffset = safeInteger(batchContext.firstOffset);
    parsedTimestamp = safeInteger(batchContext.firstTimestamp);
  }
  const bytes = decoder.buffer;
  const start = decoder.offset;
  const end = bytes.length;
  const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const appendTime = timestampType === LOG_APPEND_TIME && maxTimestamp;
  if (start >= end || Number.isNaN(parsedOffset) || (!appendTime && Number.isNaN(parsedTimestamp))) return originalDecoder(decoder, batchContext);
  const attributes = bytes.readInt8(start);
  const timestampDelta = readVarint(bytes, start + 1, end);
  if (Number.isNaN(timestampDelta)) return originalDecoder(decoder, batchContext);
  const offsetDelta = readVarint(bytes, next, end);
  if (Number.isNaN(offsetDelta)) return originalDecoder(decoder, batchContext);
  const keyLength = readVarint(bytes, next, end);
  if (Number.isNaN(keyLength) || keyLength < -1 || next + Math.max(0, keyLength) > end) return originalDecoder(decoder, batchContext);
  const keyAt = next;
  const valueLength = readVarint(bytes, keyAt + Math.max(0, keyLength), end);
  if (Number.isNaN(valueLength) || valueLength < -1 || next + Math.max(0, valueLength) > end) return originalDecoder(decoder, batchContext);
  const valueAt = next;
  const headersAt = valueAt + Math.max(0, valueLength);
  // No headers: the varint 0 (kafkajs reads -1 as none too).
  if (headersAt >= end || (bytes[headersAt] !== 0 && bytes[headersAt] !== 1)) return originalDecoder(decoder, batchContext);
  const timestamp = appendTime ? (maxTimestamp as string) : parsedTimestamp + timestampDelta;
  const offset = parsedOffset + offsetDelta;
  if (!Number.isSafeInteger(offset) || (typeof timestamp === 'number' && !Number.isSafeInteger(timestamp))) return originalDecoder(decoder, batchContext);
  decoder.offset = headersAt + 1;
  return {
    magicByte,
    attributes,
    timestamp: String(timestamp),
    offset: String(offset),
    key: keyLength < 0 ? null : bytes.subarray(keyAt, keyAt + keyLength),
    value: valueLength < 0 ? null : bytes.subarray(valueAt, valueAt + valueLength),
    headers: {},
    isControlRecord: isControlBatch,
    batchContext,
  };
}

/** kafkajs' own record decoder, to compare with. */
export function kafkajsRecordDecoder(): RecordDecoder {
  return originalDecoder;
}

function install(): boolean {
  // Too late once the produce request (the record batch decoder) has taken its reference to the original.
  const encoder = !require.cache[PRODUCE_MODULE] && require.cache[RECORD_MODULE];
  if (encoder) encoder.exports = encodeRecord;
  const decoder = !require.cache[BATCH_DECODER_MODULE] && require.cache[RECORD_DECODER_MODULE];
  if (decoder) decoder.exports = decodeRecord;
  return require(RECORD_MODULE) === encodeRecord && require(RECORD_DECODER_MODULE) === decodeRecord;
}

/** Whether kafkajs encodes produced records with encodeRecord and decodes fetched ones with decodeRecord in this process. */
export const recordCodecInstalled = install();

/** The record encoder kafkajs' produce request will use (for tests). */
export function kafkajsProduceRecordEncoder(): unknown {
  return require(RECORD_MODULE);
}

/** The record decoder kafkajs' record batch decoder will use (for tests). */
export function kafkajsFetchRecordDecoder(): unknown {
  return require(RECORD_DECODER_MODULE);
}
