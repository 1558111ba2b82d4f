import { describe, expect, it } from 'vitest';
import type { PendingSend } from '../../../services/delay/pending-sends.ts';
import { releaseVerdict } from '../../../services/delay/release-gate.ts';

const HOUR = 3_600_000;
const NIGHT = { startMinute: 22 * 60, endMinute: 7 * 60 }; // 22:00-07:00 local

function pending(sendAt: number, overrides: Partial<PendingSend> = {}): PendingSend {
  return { scheduleId: 's', triggerId: 't', recipientId: 'r', campaignId: 'c', messageId: null, channel: 'EMAIL', reason: 'OPTIMIZED', sendAt, timeZone: 'UTC', payload: Buffer.alloc(0), quietHours: NIGHT, expiresAt: null, ...overrides };
}

describe('a due send checked again at release', () => {
  const sendAt = Date.UTC(2026, 11, 1, 19); // 19:00 UTC, allowed

  it('goes on time, and when late but still outside quiet hours', () => {
    expect(releaseVerdict(pending(sendAt), sendAt)).toEqual({ kind: 'release' });
    expect(releaseVerdict(pending(sendAt), sendAt + 2 * HOUR)).toEqual({ kind: 'release' });
  });

  it('waits for the end of quiet hours when it comes late at night (after downtime), in the local clock', () => {
    expect(releaseVerdict(pending(sendAt), Date.UTC(2026, 11, 2, 3))).toEqual({ kind: 'defer', untilMs: Date.UTC(2026, 11, 2, 7) });
    // New York (UTC-5 in December): 03:00 local is 08:00 UTC; quiet ends at 07:00 local = 12:00 UTC.
    expect(releaseVerdict(pending(sendAt, { timeZone: 'America/New_York' }), Date.UTC(2026, 11, 2, 8))).toEqual({ kind: 'defer', untilMs: Date.UTC(2026, 11, 2, 12) });
  });

  it('follows DST: on the spring-forward night, quiet 22:00-03:00 ends when the clock jumps from 02:00 to 03:00', () => {
    const quiet = { startMinute: 22 * 60, endMinute: 3 * 60 };
    // Berlin 2026-03-29: 01:30 CET = 00:30 UTC; at 01:00 UTC the clock jumps to 03:00 CEST.
    const verdict = releaseVerdict(pending(Date.UTC(2026, 2, 28, 18), { timeZone: 'Europe/Berlin', quietHours: quiet }), Date.UTC(2026, 2, 29, 0, 30));
    expect(verdict).toEqual({ kind: 'defer', untilMs: Date.UTC(2026, 2, 29, 1) });
  });

  it('is not sent after its expiry, with the reason', () => {
    const verdict = releaseVerdict(pending(sendAt, { expiresAt: sendAt + HOUR }), sendAt + HOUR + 1);
    expect(verdict.kind).toBe('expire');
    expect(verdict.kind === 'expire' && verdict.detail).toMatch(/past expiresAt 2026-12-01T20:00:00.000Z/);
  });

  it('expires when quiet hours would hold it past its expiry', () => {
    const verdict = releaseVerdict(pending(sendAt, { expiresAt: Date.UTC(2026, 11, 2, 6) }), Date.UTC(2026, 11, 2, 3));
    expect(verdict.kind).toBe('expire');
    expect(verdict.kind === 'expire' && verdict.detail).toMatch(/quiet hours that end at 2026-12-02T07:00:00.000Z/);
  });

  it('goes at once without quiet hours (an explicit sendAt) and for sends stored before these fields existed', () => {
    expect(releaseVerdict(pending(sendAt, { quietHours: null }), Date.UTC(2026, 11, 2, 3))).toEqual({ kind: 'release' });
    const { quietHours: _q, expiresAt: _e, ...older } = pending(sendAt);
    expect(releaseVerdict(older, Date.UTC(2026, 11, 2, 3))).toEqual({ kind: 'release' });
  });
});
