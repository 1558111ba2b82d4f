import type { Channel, FrequencyCaps, ReceivedEngagementEvent, StopRule } from '../shared/contracts/record-types.ts';

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/**
 * How long a stop mark is kept: a mark stops only sends decided before its event, and no send is
 * pending longer than the scheduled topic's retention (14 days): older marks can stop nothing.
 */
export const STOP_MARK_RETENTION_MS = 14 * DAY_MS;

/** The engagement types the delay service keeps; every other type is skipped after decoding. */
export const GUARD_EVENT_TYPES: ReadonlySet<string> = new Set(['CONVERSION', 'CLICK', 'OPEN', 'UNSUBSCRIBE', 'COMPLAINT', 'BOUNCE', 'RESUBSCRIBE']);

/**
 * What the delay service knows about one recipient when it releases their sends: the latest time
 * of each kind of stop event (a mark per event type, narrowed by campaign and correlation id),
 * the channels they are suppressed on, and their releases of the last 7 days per channel.
 */
export interface RecipientGuard {
  /** Mark key (see markKey) → latest occurredAt of a matching event. */
  marks: Record<string, number>;
  /** Channel → when the suppression began and why. */
  suppressed: Partial<Record<Channel, { since: number; cause: string }>>;
  /** Channel → release instants of the last 7 days, oldest first. */
  releases: Partial<Record<Channel, number[]>>;
}

export const emptyGuard = (): RecipientGuard => ({ marks: {}, suppressed: {}, releases: {} });
export const guardKey = (recipientId: string) => `guard:${recipientId}`;

/** A mark names an event type, optionally narrowed to a campaign and to a correlation id. */
export function markKey(eventType: string, campaignId: string | null, correlationId: string | null): string {
  return `${eventType}|${campaignId === null ? '' : `c=${campaignId}`}|${correlationId === null ? '' : `k=${correlationId}`}`;
}

export function isGuardEmpty(guard: RecipientGuard): boolean {
  return Object.keys(guard.marks).length === 0 && Object.keys(guard.suppressed).length === 0 && Object.keys(guard.releases).length === 0;
}

/** Why an event suppresses its channel, or null when it does not. */
function suppressionCause(event: ReceivedEngagementEvent): string | null {
  if (event.eventType === 'UNSUBSCRIBE') return 'UNSUBSCRIBE';
  if (event.eventType === 'COMPLAINT') return 'COMPLAINT';
  if (event.eventType === 'BOUNCE' && event.bounceKind === 'HARD') return 'HARD_BOUNCE';
  return null;
}

/**
 * Applies one engagement event (of a GUARD_EVENT_TYPES type) to a recipient's guard: records its
 * stop marks (every narrowing the event can match), puts its channel on or off the suppression
 * list, and forgets marks that can no longer stop anything. Returns the guard it changed.
 */
export function applyEngagement(guard: RecipientGuard, event: ReceivedEngagementEvent, nowMs: number): RecipientGuard {
  if (event.eventType !== 'RESUBSCRIBE') {
    const campaigns = event.campaignId ? [null, event.campaignId] : [null];
    const correlations = event.correlationId ? [null, event.correlationId] : [null];
    for (const campaign of campaigns) {
      for (const correlation of correlations) {
        const key = markKey(event.eventType, campaign, correlation);
        guard.marks[key] = Math.max(guard.marks[key] ?? 0, event.occurredAt);
      }
    }
  }
  if (event.channel !== 'UNKNOWN') {
    const cause = suppressionCause(event);
    const current = guard.suppressed[event.channel];
    if (cause !== null && (!current || current.since < event.occurredAt)) guard.suppressed[event.channel] = { since: event.occurredAt, cause };
    // A re-subscribe lifts only a suppression that began before it (events can arrive out of order).
    else if (event.eventType === 'RESUBSCRIBE' && current && current.since <= event.occurredAt) delete guard.suppressed[event.channel];
  }
  for (const [key, at] of Object.entries(guard.marks)) if (at < nowMs - STOP_MARK_RETENTION_MS) delete guard.marks[key];
  return guard;
}

/** What a pending send needs to be checked against a guard. */
export interface GuardedSend {
  campaignId: string;
  channel: Channel;
  correlationId?: string | null;
  triggeredAt?: number;
  stopOn?: readonly StopRule[];
  caps?: FrequencyCaps | null;
}

/**
 * The first stop rule of the send that an event after its decision (triggeredAt) matched, as
 * words for the audit record, or null. A rule with sameCorrelation never matches a send without
 * a correlation id (it has no cart to match).
 */
export function stoppedBy(guard: RecipientGuard, send: GuardedSend): string | null {
  const decidedAt = send.triggeredAt ?? 0;
  for (const rule of send.stopOn ?? []) {
    if (rule.eventType === 'UNKNOWN') continue;
    const correlation = rule.sameCorrelation ? (send.correlationId ?? null) : null;
    if (rule.sameCorrelation && correlation === null) continue;
    const at = guard.marks[markKey(rule.eventType, rule.sameCampaign ? send.campaignId : null, correlation)];
    if (at !== undefined && at > decidedAt) {
      const scope = [rule.sameCampaign ? `campaign ${send.campaignId}` : '', rule.sameCorrelation ? `correlation ${correlation}` : ''].filter(Boolean).join(', ');
      return `stopped by ${rule.eventType}${scope ? ` (${scope})` : ''} at ${new Date(at).toISOString()}, after the send was decided at ${new Date(decidedAt).toISOString()}`;
    }
  }
  return null;
}

/** Why the send's channel is suppressed for its recipient, or null. */
export function suppressedBy(guard: RecipientGuard, channel: Channel): string | null {
  const entry = guard.suppressed[channel];
  return entry ? `recipient suppressed on ${channel} by ${entry.cause} at ${new Date(entry.since).toISOString()}` : null;
}

/**
 * The earliest instant at or after `nowMs` at which one more release on the channel keeps within
 * the caps (releases in the last 24 h < perDay and in the last 7 days < perWeek): `nowMs` when
 * it fits now. A release at r counts while t - r < the period.
 */
export function capFitAt(guard: RecipientGuard, channel: Channel, caps: FrequencyCaps | null | undefined, nowMs: number): number {
  if (!caps) return nowMs;
  const history = guard.releases[channel] ?? [];
  let fit = nowMs;
  for (const [limit, period] of [[caps.perDay, DAY_MS], [caps.perWeek, WEEK_MS]] as const) {
    if (limit === null || limit === undefined) continue;
    if (limit <= 0) return Number.POSITIVE_INFINITY;
    const inWindow = history.filter((at) => nowMs - at < period);
    // Once the (n - limit)-th oldest of them leaves the period, limit - 1 remain.
    if (inWindow.length >= limit) fit = Math.max(fit, inWindow[inWindow.length - limit]! + period);
  }
  return fit;
}

/** Records a release (every release counts toward the caps of later sends) and forgets those older than 7 days. */
export function recordRelease(guard: RecipientGuard, channel: Channel, atMs: number): RecipientGuard {
  const history = (guard.releases[channel] ?? []).filter((at) => atMs - at < WEEK_MS);
  history.push(atMs);
  history.sort((a, b) => a - b);
  guard.releases[channel] = history;
  return guard;
}

export function encodeGuard(guard: RecipientGuard): Buffer {
  return Buffer.from(JSON.stringify(guard));
}

/** Decodes a stored guard; a value that is not one reads as an empty guard plus the reason (the caller quarantines it). */
export function decodeGuard(value: Buffer | undefined): RecipientGuard | { corrupt: string } {
  if (!value) return emptyGuard();
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<RecipientGuard> | null;
    if (typeof parsed !== 'object' || parsed === null) return { corrupt: 'not an object' };
    return { marks: parsed.marks ?? {}, suppressed: parsed.suppressed ?? {}, releases: parsed.releases ?? {} };
  } catch (error) {
    return { corrupt: `not JSON: ${(error as Error).message}` };
  }
}
