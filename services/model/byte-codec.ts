/** Growable byte writer and bounds-checked reader for the state codecs (varints, zigzag, 16-bit, strings, raw bytes). */
export class ByteWriter {
  #bytes: Uint8Array;
  #at = 0;
  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
  }
  #ensure(extra: number): void {
    if (this.#at + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#at + extra));
    grown.set(this.#bytes);
    this.#bytes = grown;
  }
  varint(value: number): void {
    this.#ensure(8);
    let rest = Math.max(0, Math.floor(value));
    while (rest >= 0x80) {
      this.#bytes[this.#at++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#bytes[this.#at++] = rest;
  }
  /** Zigzag: 0, -1, 1, -2, ... as 0, 1, 2, 3, ... (exact for integers within 2^52). */
  signed(value: number): void {
    const integer = Math.round(value);
    this.varint(integer >= 0 ? integer * 2 : -integer * 2 - 1);
  }
  uint16(value: number): void {
    this.#ensure(2);
    this.#bytes[this.#at++] = value >> 8;
    this.#bytes[this.#at++] = value & 0xff;
  }
  uint32(value: number): void {
    this.#ensure(4);
    this.#bytes[this.#at++] = (value >>> 24) & 0xff;
    this.#bytes[this.#at++] = (value >>> 16) & 0xff;
    this.#bytes[this.#at++] = (value >>> 8) & 0xff;
    this.#bytes[this.#at++] = value & 0xff;
  }
  string(value: string): void {
    // Zone names and ids are ASCII: written in place, without a Buffer per string (the state
    // codecs write one or two per event).
    const length = value.length;
    let ascii = length < 0x80;
    for (let i = 0; ascii && i < length; i++) ascii = value.charCodeAt(i) < 0x80;
    if (ascii) {
      this.#ensure(length + 1);
      this.#bytes[this.#at++] = length;
      for (let i = 0; i < length; i++) this.#bytes[this.#at++] = value.charCodeAt(i);
      return;
    }
    const encoded = Buffer.from(value, 'utf8');
    this.varint(encoded.length);
    this.bytes(encoded);
  }
  bytes(value: Uint8Array): void {
    this.#ensure(value.length);
    this.#bytes.set(value, this.#at);
    this.#at += value.length;
  }
  done(): Uint8Array {
    return this.#bytes.subarray(0, this.#at);
  }
  /** Starts over on the same memory (what done() returned before is overwritten by new writes). */
  reset(): void {
    this.#at = 0;
  }
}

export class ByteReader {
  #at = 0;
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  #byte(): number {
    if (this.#at >= this.#bytes.length) throw new RangeError('bytes truncated');
    return this.#bytes[this.#at++]!;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.#byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  }
  signed(): number {
    const zigzag = this.varint();
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  }
  uint16(): number {
    return (this.#byte() << 8) | this.#byte();
  }
  /** The next `length` bytes (a view, not a copy). */
  take(length: number): Uint8Array {
    const slice = this.#bytes.subarray(this.#at, this.#at + length);
    if (slice.length !== length) throw new RangeError('bytes truncated');
    this.#at += length;
    return slice;
  }
  /** Every byte not read yet (a view). */
  rest(): Uint8Array {
    return this.take(this.#bytes.length - this.#at);
  }
  uint32(): number {
    if (this.#at + 4 > this.#bytes.length) throw new RangeError('bytes truncated');
    const bytes = this.#bytes;
    const at = this.#at;
    this.#at += 4;
    return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  }
  /** Moves past `length` bytes without reading them. */
  skip(length: number): void {
    if (length < 0 || this.#at + length > this.#bytes.length) throw new RangeError('bytes truncated');
    this.#at += length;
  }
  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.length - this.#at;
  }
  /** Bytes read so far. */
  get offset(): number {
    return this.#at;
  }
  string(): string {
    const length = this.varint();
    const at = this.#at;
    if (at + length > this.#bytes.length) throw new RangeError('bytes truncated');
    // Zone names and ids are short ASCII: read in place (each view of a Buffer is a new Buffer
    // object, and the state decoders read one or two strings per stored value).
    if (length <= ASCII_SCRATCH.length) {
      let ascii = true;
      for (let i = 0; i < length; i++) {
        const byte = this.#bytes[at + i]!;
        if (byte >= 0x80) {
          ascii = false;
          break;
        }
        ASCII_SCRATCH[i] = byte;
      }
      if (ascii) {
        this.#at += length;
        ASCII_SCRATCH.length = length;
        const text = String.fromCharCode.apply(null, ASCII_SCRATCH);
        ASCII_SCRATCH.length = ASCII_SCRATCH_LENGTH;
        return text;
      }
    }
    const bytes = this.take(length);
    // A view, not a copy (Buffer.from of a Uint8Array copies it).
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  }
}

const ASCII_SCRATCH_LENGTH = 64;
/** The char codes of a short ASCII string being read (one array for every call). */
const ASCII_SCRATCH: number[] = new Array<number>(ASCII_SCRATCH_LENGTH).fill(0);
