import { describe, expect, it } from 'vitest';
import { localSlotOf } from '../../../services/model/time/local-slot.ts';
import { createPopulation, RECIPIENT_KINDS, type SimRecipient } from '../../../services/simulator/population.ts';
import { candidateSendTimes, expectedOpen, oracleSlot } from '../../../services/simulator/respond.ts';

const START = Date.UTC(2025, 0, 6); // a Monday, far from any DST change of the simulated zones
const HOUR = 3_600_000;

function plain(recipient: SimRecipient) {
  return { ...recipient, truth: { ...recipient.truth, checksPerHour: [...recipient.truth.checksPerHour], openProbability: [...recipient.truth.openProbability] } };
}

/** Hour of day (0..23) of the weekday habit's strongest open probability. */
function weekdayPeakHour(recipient: SimRecipient): number {
  const byHour = new Float64Array(24);
  for (let day = 0; day < 5; day++) for (let hour = 0; hour < 24; hour++) byHour[hour]! += recipient.truth.openProbability[day * 24 + hour]!;
  return byHour.indexOf(Math.max(...byHour));
}

describe('createPopulation', () => {
  const population = createPopulation({ size: 600, seed: 'truth', startMs: START });

  it('is deterministic from the seed, and recipient i does not depend on the size', () => {
    const again = createPopulation({ size: 600, seed: 'truth', startMs: START });
    expect(again.map(plain)).toEqual(population.map(plain));
    const smaller = createPopulation({ size: 50, seed: 'truth', startMs: START });
    expect(smaller.map(plain)).toEqual(population.slice(0, 50).map(plain));
    const other = createPopulation({ size: 50, seed: 'other', startMs: START });
    expect(other.map(plain)).not.toEqual(smaller.map(plain));
  });

  it('mixes kinds and zones, including half-hour and DST zones', () => {
    const kinds = new Set(population.map((recipient) => recipient.kind));
    expect([...kinds].sort()).toEqual([...RECIPIENT_KINDS].sort());
    const zones = new Set(population.map((recipient) => recipient.timeZone));
    expect(zones.size).toBeGreaterThan(10);
    expect(zones.has('Asia/Kolkata')).toBe(true);
    expect(zones.has('America/New_York')).toBe(true);
    expect(new Set(population.map((recipient) => recipient.recipientId)).size).toBe(population.length);
  });

  it('gives every recipient 168 probabilities in [0, 1] that are not flat', () => {
    for (const recipient of population) {
      const { openProbability, clickGivenOpen, checksPerHour } = recipient.truth;
      expect(openProbability).toHaveLength(168);
      expect(checksPerHour).toHaveLength(168);
      expect(openProbability.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(clickGivenOpen >= 0 && clickGivenOpen <= 1).toBe(true);
      expect(Math.max(...openProbability)).toBeGreaterThan(3 * Math.min(...openProbability));
    }
  });

  it('makes habits individual: peaks at different hours, weekends unlike weekdays', () => {
    const regulars = population.filter((recipient) => recipient.kind === 'regular');
    expect(new Set(regulars.map(weekdayPeakHour)).size).toBeGreaterThan(6);
    const weekendDiffers = regulars.filter((recipient) => {
      const p = recipient.truth.openProbability;
      const wednesday = p.slice(48, 72);
      const saturday = p.slice(120, 144);
      return wednesday.indexOf(Math.max(...wednesday)) !== saturday.indexOf(Math.max(...saturday));
    });
    expect(weekendDiffers.length).toBeGreaterThan(regulars.length / 3);
  });

  it('has night owls peak at night and regular people in the morning or evening, on their local clock', () => {
    const nightOwls = population.filter((recipient) => recipient.kind === 'night_owl');
    expect(nightOwls.length).toBeGreaterThan(30);
    for (const owl of nightOwls) expect([20, 21, 22, 23, 0, 1, 2]).toContain(weekdayPeakHour(owl));
    for (const regular of population.filter((recipient) => recipient.kind === 'regular')) {
      const hour = weekdayPeakHour(regular);
      expect((hour >= 4 && hour <= 10) || (hour >= 16 && hour <= 23)).toBe(true);
    }
    // The oracle of a day-long window finds the night in real time, e.g. 23:00 Kolkata is 17:30 UTC.
    for (const owl of nightOwls.slice(0, 20)) {
      const best = oracleSlot(owl, START + 10 * HOUR, START + 34 * HOUR);
      expect([19, 20, 21, 22, 23, 0, 1, 2]).toContain(localSlotOf(best.sendAtMs, owl.timeZone).localHour);
    }
  });

  it('scores a top-of-hour send with the slot probability, and the oracle is the best candidate of the window', () => {
    for (const recipient of population.slice(0, 40)) {
      const times = candidateSendTimes(recipient, START + 7 * HOUR + 1_234, START + 31 * HOUR);
      for (const sendAtMs of times.slice(1, -1)) {
        expect(localSlotOf(sendAtMs, recipient.timeZone).minute).toBe(0);
        expect(expectedOpen(recipient, sendAtMs)).toBeCloseTo(recipient.truth.openProbability[localSlotOf(sendAtMs, recipient.timeZone).hourOfWeek]!, 9);
      }
      const best = oracleSlot(recipient, START + 7 * HOUR + 1_234, START + 31 * HOUR);
      expect(times).toContain(best.sendAtMs);
      for (const sendAtMs of times) expect(expectedOpen(recipient, sendAtMs)).toBeLessThanOrEqual(best.expectedOpen);
    }
  });
});
