import { describe, expect, it } from 'vitest';
import { releaseConditions } from '../../../services/engine/engine-handler.ts';

const HOUR = 3_600_000;
const quietHours = { startMinute: 1320, endMinute: 420 };

describe('what a scheduled send carries for the release-time check', () => {
  const decision = { reason: 'OPTIMIZED', sendAtMs: 10 * HOUR, windowEndMs: 24 * HOUR };

  it("carries the trigger's quiet hours and expires at the window's end plus the grace", () => {
    expect(releaseConditions({ quietHours }, decision, 12 * HOUR)).toEqual({ quietHours, expiresAt: 36 * HOUR });
  });

  it("takes the trigger's own expiresAt", () => {
    expect(releaseConditions({ quietHours, expiresAt: 20 * HOUR }, decision, 12 * HOUR)).toEqual({ quietHours, expiresAt: 20 * HOUR });
  });

  it('counts the grace from the chosen instant when that is after the window (deferred past it by quiet hours)', () => {
    expect(releaseConditions({ quietHours }, { ...decision, sendAtMs: 30 * HOUR }, HOUR).expiresAt).toBe(31 * HOUR);
  });

  it('carries no quiet hours for an explicit sendAt: the sender chose that instant', () => {
    expect(releaseConditions({ quietHours }, { ...decision, reason: 'EXPLICIT_SEND_AT' }, HOUR).quietHours).toBeNull();
  });
});
