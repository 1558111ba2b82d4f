import { describe, expect, it } from 'vitest';
import { releaseClock } from '../../../services/delay/release-clock.ts';

describe('the delay service clock', () => {
  it('is real time at speed-up 1', () => {
    let now = 1_000.5;
    expect(releaseClock(1, () => now)()).toBe(1_000.5);
    now = 2_000;
    expect(releaseClock(1, () => now)()).toBe(2_000);
  });

  it('runs faster from its start and reads whole milliseconds at a fractional speed-up (1.3 made every release fail to encode)', () => {
    let now = 1_764_600_000_000;
    const clock = releaseClock(1.3, () => now);
    for (const elapsed of [0, 1, 7, 333, 10_001]) {
      now = 1_764_600_000_000 + elapsed;
      const reading = clock();
      expect(Number.isInteger(reading)).toBe(true);
      expect(reading).toBe(1_764_600_000_000 + Math.floor(elapsed * 1.3));
    }
  });
});
