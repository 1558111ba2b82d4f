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
  string(value: string): void {
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
    return Buffer.from(this.take(this.varint())).toString('utf8');
  }
}
