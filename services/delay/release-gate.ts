import { firstAllowedAtOrAfter, isQuiet } from '../model/quiet-hours.ts';
import type { UnreleasedOutcome } from '../shared/contracts/record-types.ts';
import type { PendingSend } from './pending-sends.ts';

/** What happens to a due send at the moment of release (drop: not released, recorded with its outcome). */
export type ReleaseVerdict =
  | { kind: 'release' }
  | { kind: 'expire'; detail: string }
  | { kind: 'drop'; outcome: Exclude<UnreleasedOutcome, 'EXPIRED'>; detail: string }
  | { kind: 'defer'; untilMs: number; cause?: 'quiet-hours' | 'caps' };

/**
 * Checks a due send again when it is released: the decision respected the recipient's quiet hours
 * and a window, but a release can come late (engine lag, delay-service downtime). Past its
 * expiresAt it is not sent; inside its quiet hours it waits for their end (unless that end is past
 * expiresAt); otherwise it goes. On time, the first two never apply: the slot was allowed.
 */
export function releaseVerdict(send: PendingSend, nowMs: number): ReleaseVerdict {
  const expiresAt = send.expiresAt ?? null;
  if (expiresAt !== null && nowMs > expiresAt) {
    return { kind: 'expire', detail: `reached ${nowMs - send.sendAt} ms after its instant, past expiresAt ${new Date(expiresAt).toISOString()}` };
  }
  const quietHours = send.quietHours ?? null;
  if (quietHours === null || !isQuiet(nowMs, send.timeZone, quietHours)) return { kind: 'release' };
  const untilMs = firstAllowedAtOrAfter(nowMs, send.timeZone, quietHours);
  if (expiresAt !== null && untilMs > expiresAt) {
    return { kind: 'expire', detail: `reached ${nowMs - send.sendAt} ms late inside quiet hours that end at ${new Date(untilMs).toISOString()}, after expiresAt ${new Date(expiresAt).toISOString()}` };
  }
  return { kind: 'defer', untilMs };
}
