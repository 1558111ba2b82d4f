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
  string(): string {
    const bytes = this.take(this.varint());
    // A view, not a copy (Buffer.from of a Uint8Array copies it).
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  }
}
