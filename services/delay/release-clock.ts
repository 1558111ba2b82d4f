/**
 * The delay service's clock: real time, or (demo only) time running `speedup` times faster from
 * the moment it is made. Whole milliseconds always: a release records the clock as `releasedAt`,
 * an Avro long, and a fractional speed-up used to make every release pass fail to encode.
 */
export function releaseClock(speedup: number, now: () => number = Date.now): () => number {
  if (speedup === 1) return now;
  const started = now();
  return () => Math.floor(started + (now() - started) * speedup);
}
