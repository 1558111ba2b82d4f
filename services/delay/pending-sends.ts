import type { Channel, UnreleasedOutcome } from '../shared/contracts/record-types.ts';
import { decodePendingSend, encodePendingSend, pendingSendOf, type PendingSend } from '../shared/contracts/send-shapes.ts';
import type { StateTransaction } from '../shared/stream/state-transaction.ts';
import type { ReleaseVerdict } from './release-gate.ts';

const RELEASE: ReleaseVerdict = { kind: 'release' };

/** Due instants are zero-padded to 13 digits, so key order is time order. */
export function dueKey(sendAtMs: number, scheduleId: string): string {
  return `due:${String(Math.max(0, Math.floor(sendAtMs))).padStart(13, '0')}:${scheduleId}`;
}
export const idKey = (scheduleId: string) => `id:${scheduleId}`;
const recipientKey = (recipientId: string, scheduleId: string) => `rcpt:${recipientId}:${scheduleId}`;
export const DUE_END = 'due:\xff';

export type { PendingSend } from '../shared/contracts/send-shapes.ts';
/** Kept for the delay service's callers: the mapping lives in the send shapes module. */
export const pendingFrom = pendingSendOf;

/** A stored value that cannot be read: its key, bytes and why. */
export type OnCorrupt = (key: string, value: Buffer, reason: string) => void;

/** Decodes a stored pending send, or says why it cannot be one. */
export const decodePending = decodePendingSend;

/** The schedule id in a due key (`due:<13 digits>:<scheduleId>`). */
const scheduleIdOf = (key: string) => key.slice(18);

/**
 * Removes a pending send by id; returns whether one was there. A stored value that cannot be
 * read is removed all the same (its recipient index entry stays: erasure tolerates that) and
 * handed to `onCorrupt`, so a replacement or cancel never fails on it.
 */
export async function cancelPending(tx: StateTransaction, scheduleId: string, onCorrupt?: OnCorrupt, onRemoved?: (send: PendingSend) => void): Promise<boolean> {
  const due = await tx.get(idKey(scheduleId));
  if (!due) return false;
  const dueKeyText = due.toString('utf8');
  const stored = await tx.get(dueKeyText);
  tx.delete(dueKeyText);
  tx.delete(idKey(scheduleId));
  if (stored) {
    const send = decodePending(stored);
    if ('corrupt' in send) onCorrupt?.(dueKeyText, stored, send.corrupt);
    else {
      tx.delete(recipientKey(send.recipientId, scheduleId));
      onRemoved?.(send);
    }
  }
  return true;
}

/** Adds a pending send; a later record with the same schedule id replaces the earlier one. Returns +1 for a new one, 0 for a replacement. */
export async function schedulePending(tx: StateTransaction, send: PendingSend, onCorrupt?: OnCorrupt): Promise<number> {
  const replaced = await cancelPending(tx, send.scheduleId, onCorrupt);
  const key = dueKey(send.sendAt, send.scheduleId);
  tx.put(key, encodePendingSend(send));
  tx.put(idKey(send.scheduleId), Buffer.from(key));
  tx.put(recipientKey(send.recipientId, send.scheduleId), Buffer.alloc(0));
  return replaced ? 0 : 1;
}

/** Removes every pending send of a recipient (erasure); returns how many. */
export async function erasePending(tx: StateTransaction, recipientId: string, onCorrupt?: OnCorrupt, onRemoved?: (send: PendingSend) => void): Promise<number> {
  const prefix = `rcpt:${recipientId}:`;
  const ids = new Set<string>();
  for await (const [key] of tx.store.entries({ gte: prefix, lt: `${prefix}\xff` })) ids.add(key.slice(prefix.length));
  for (const [key, value] of tx.dirty) if (key.startsWith(prefix) && value !== null) ids.add(key.slice(prefix.length));
  let removed = 0;
  for (const id of ids) {
    tx.delete(`${prefix}${id}`);
    if (await cancelPending(tx, id, onCorrupt, onRemoved)) removed++;
  }
  return removed;
}

/** A due send taken out without release, and why (recorded on the unreleased topic). */
export interface DroppedSend {
  send: PendingSend;
  outcome: UnreleasedOutcome;
  detail: string;
}

/**
 * Takes the sends due at `nowMs` (never later ones, and none due after `scanUpToMs` when given),
 * oldest first, at most `limit`, asking `verdict` per send whether it goes, waits or is dropped,
 * then `admit` whether a rate limit lets it go now, and telling `onRelease` about each taken.
 * Stops at the first one held back by the rate limit and returns when to look again. Only
 * committed entries are scanned. A stored value that cannot be read is removed and handed to
 * `onCorrupt` (one bad value must not stop every release).
 */
export async function takeDue(
  tx: StateTransaction,
  nowMs: number,
  limit: number,
  admit: (send: PendingSend) => number,
  onCorrupt?: OnCorrupt,
  verdict: (send: PendingSend) => ReleaseVerdict | Promise<ReleaseVerdict> = () => RELEASE,
  options: { scanUpToMs?: number; onRelease?: (send: PendingSend) => void } = {},
): Promise<{ due: PendingSend[]; retryInMs: number | null; corrupt: number; expired: Array<{ send: PendingSend; detail: string }>; dropped: DroppedSend[]; deferred: PendingSend[] }> {
  let corrupt = 0;
  const due: PendingSend[] = [];
  const expired: Array<{ send: PendingSend; detail: string }> = [];
  const dropped: DroppedSend[] = [];
  const deferred: PendingSend[] = [];
  let retryInMs: number | null = null;
  const held = new Set<Channel>();
  const upTo = Math.min(nowMs, options.scanUpToMs ?? nowMs);
  const remove = (key: string, send: PendingSend) => {
    tx.delete(key);
    tx.delete(idKey(send.scheduleId));
    tx.delete(recipientKey(send.recipientId, send.scheduleId));
  };
  for await (const [key, value] of tx.store.entries({ gte: 'due:', lt: dueKey(upTo + 1, '') })) {
    if (due.length >= limit) break;
    if (tx.dirty.has(key)) continue;
    const send = decodePending(value);
    if ('corrupt' in send) {
      if (!onCorrupt) throw new Error(`pending send ${key} cannot be read: ${send.corrupt}`);
      tx.delete(key);
      tx.delete(idKey(scheduleIdOf(key)));
      onCorrupt(key, value, send.corrupt);
      corrupt++;
      continue;
    }
    if (send.sendAt > upTo) break;
    // Late releases are checked again (expiry, quiet hours) and every release against stops,
    // suppression and caps, before any rate limit is spent on them.
    const checked = await verdict(send);
    if (checked.kind === 'expire') {
      expired.push({ send, detail: checked.detail });
      remove(key, send);
      continue;
    }
    if (checked.kind === 'drop') {
      dropped.push({ send, outcome: checked.outcome, detail: checked.detail });
      remove(key, send);
      continue;
    }
    if (checked.kind === 'defer') {
      const moved = { ...send, sendAt: checked.untilMs };
      const movedKey = dueKey(moved.sendAt, send.scheduleId);
      tx.delete(key);
      tx.put(movedKey, encodePendingSend(moved));
      tx.put(idKey(send.scheduleId), Buffer.from(movedKey));
      deferred.push(moved);
      continue;
    }
    if (held.has(send.channel)) continue;
    const wait = admit(send);
    if (wait > 0) {
      held.add(send.channel);
      retryInMs = Math.min(retryInMs ?? wait, wait);
      continue;
    }
    due.push(send);
    remove(key, send);
    options.onRelease?.(send);
  }
  return { due, retryInMs, corrupt, expired, dropped, deferred };
}

/** The earliest committed due instant, or null. */
export async function earliestDue(tx: Pick<StateTransaction, 'store'>): Promise<number | null> {
  for await (const [key] of tx.store.entries({ gte: 'due:', lt: DUE_END, limit: 1 })) return Number(key.slice(4, 17));
  return null;
}
