import { createHash } from 'node:crypto';

/**
 * A small seedable generator (Chris Doty-Humphrey's SFC32) whose state comes from a SHA-256 of
 * named parts, so every recipient and every purpose ("habit", "history", "response") draws its
 * own stream: adding recipients or draws in one place never shifts the numbers of another.
 */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(parts: readonly (string | number)[]) {
    const hash = createHash('sha256');
    for (const part of parts) {
      const text = String(part);
      hash.update(`${Buffer.byteLength(text)}:${text}`);
    }
    const digest = hash.digest();
    this.#a = digest.readUInt32LE(0);
    this.#b = digest.readUInt32LE(4);
    this.#c = digest.readUInt32LE(8);
    this.#d = digest.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  }

  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [0, count). */
  below(count: number): number {
    return Math.min(count - 1, Math.floor(this.next() * count));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** Normal(mean, sd) by Box-Muller. */
  normal(mean: number, sd: number): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** One of the items, with the given relative weights. */
  pick<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((sum, [, weight]) => sum + weight, 0);
    let at = this.next() * total;
    for (const [item, weight] of items) {
      at -= weight;
      if (at < 0) return item;
    }
    return items[items.length - 1]![0];
  }
}
