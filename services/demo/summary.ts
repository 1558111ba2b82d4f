import { localSlotOf } from '../model/time/local-slot.ts';
import type { EngagementEvent } from '../shared/contracts/record-types.ts';
import type { SimRecipient } from '../simulator/population.ts';

/** One scheduled send of the demo, as the engine decided it and the sender saw it. */
export interface DemoSend {
  triggerId: string;
  campaignId: string;
  channel: string;
  reason: string;
  arm: string;
  sendAt: number;
  localHour: number;
  /** The recipient's true chance of opening within the arrival window (simulator ground truth). */
  expectedOpen: number;
  /** Release instant on the delay service's (accelerated) clock. */
  releasedAt: number | null;
  /** Whether the simulated recipient opened it within the arrival window. */
  opened: boolean | null;
}

export interface SummaryInput {
  population: readonly SimRecipient[];
  history: readonly EngagementEvent[];
  sends: readonly DemoSend[];
  urgentReady: number;
  speedup: number;
  delayStartMs: number;
  delayMetrics: string;
  engineApplied: number;
  seconds: number;
}

function percent(value: number): string {
  return `${(100 * value).toFixed(1)}%`;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Share opened with a 95% interval (normal approximation). */
export function proportion(successes: number, total: number): { rate: number; halfWidth: number } {
  const rate = total === 0 ? 0 : successes / total;
  return { rate, halfWidth: total === 0 ? 0 : 1.96 * Math.sqrt((rate * (1 - rate)) / total) };
}

export function formatSummary(input: SummaryInput): string {
  const lines: string[] = ['=== Summary ==='];
  const zoneOf = new Map(input.population.map((recipient) => [recipient.recipientId, recipient.timeZone]));

  // Decisions by reason.
  const reasons = new Map<string, number>();
  for (const send of input.sends) {
    const reason = send.reason === 'URGENT_BYPASS' ? 'URGENT_BYPASS, after quiet hours' : send.reason;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  if (input.urgentReady > 0) reasons.set('URGENT_BYPASS, sent at once', input.urgentReady);
  const total = [...reasons.values()].reduce((sum, count) => sum + count, 0);
  lines.push('', `Decisions by reason (${total.toLocaleString('en-US')}):`);
  for (const [reason, count] of [...reasons].sort((a, b) => b[1] - a[1])) lines.push(`  ${reason.padEnd(32)} ${String(count).padStart(6)}  ${percent(count / total).padStart(6)}`);

  // Local send hours: the legacy schedule in the history against the engine's newsletter sends.
  const before = new Array<number>(24).fill(0);
  for (const event of input.history) {
    if (event.eventType !== 'SEND') continue;
    before[localSlotOf(event.occurredAt, zoneOf.get(event.recipientId) ?? 'UTC').localHour]!++;
  }
  const after = new Array<number>(24).fill(0);
  const newsletter = input.sends.filter((send) => send.campaignId === 'winter-newsletter');
  for (const send of newsletter) after[send.localHour]!++;
  const beforeTotal = before.reduce((a, b) => a + b, 0) || 1;
  const afterTotal = after.reduce((a, b) => a + b, 0) || 1;
  const bar = (share: number) => '#'.repeat(Math.round(share * 60));
  lines.push('', 'Local send hour: before (legacy schedule, history) | after (engine, newsletter; quiet hours 21-08)');
  for (let hour = 0; hour < 24; hour++) {
    const b = before[hour]! / beforeTotal;
    const a = after[hour]! / afterTotal;
    if (b === 0 && a === 0) continue;
    lines.push(`  ${String(hour).padStart(2, '0')}h ${percent(b).padStart(6)} ${bar(b).padEnd(40)} | ${percent(a).padStart(6)} ${bar(a)}`);
  }

  // Release lateness, in real milliseconds (the delay clock ran `speedup` times faster).
  const released = input.sends.filter((send) => send.releasedAt !== null && send.sendAt > input.delayStartMs);
  const lateness = released.map((send) => (send.releasedAt! - send.sendAt) / input.speedup).sort((a, b) => a - b);
  const early = input.sends.filter((send) => send.releasedAt !== null && send.releasedAt < send.sendAt).length;
  lines.push(
    '',
    `Release lateness of ${lateness.length.toLocaleString('en-US')} sends due after the delay service started (real ms; its clock ran ${input.speedup}x):`,
    `  p50 ${quantile(lateness, 0.5).toFixed(1)} ms, p99 ${quantile(lateness, 0.99).toFixed(1)} ms, max ${quantile(lateness, 1).toFixed(1)} ms; released early: ${early}`,
  );

  // Engagement of optimized sends against the holdout.
  const arm = (predicate: (send: DemoSend) => boolean) => {
    const group = newsletter.filter((send) => predicate(send) && send.opened !== null);
    const opened = group.filter((send) => send.opened).length;
    const expected = group.reduce((sum, send) => sum + send.expectedOpen, 0) / (group.length || 1);
    return { n: group.length, ...proportion(opened, group.length), expected };
  };
  const optimized = arm((send) => send.arm === 'TREATMENT' && send.reason === 'OPTIMIZED');
  const treatment = arm((send) => send.arm === 'TREATMENT');
  const control = arm((send) => send.arm === 'CONTROL');
  const diff = treatment.rate - control.rate;
  const diffHalfWidth = Math.sqrt(treatment.halfWidth ** 2 + control.halfWidth ** 2);
  lines.push(
    '',
    'Newsletter opens within 2 hours of the send (simulated recipients, by their true habits):',
    `  optimized (OPTIMIZED)        n=${String(optimized.n).padStart(5)}  opened ${percent(optimized.rate).padStart(6)} ± ${percent(optimized.halfWidth)}   (true chance ${percent(optimized.expected)})`,
    `  treatment arm (all reasons)  n=${String(treatment.n).padStart(5)}  opened ${percent(treatment.rate).padStart(6)} ± ${percent(treatment.halfWidth)}   (true chance ${percent(treatment.expected)})`,
    `  holdout (CONTROL, 10:00)     n=${String(control.n).padStart(5)}  opened ${percent(control.rate).padStart(6)} ± ${percent(control.halfWidth)}   (true chance ${percent(control.expected)})`,
    `  treatment - holdout: ${diff >= 0 ? '+' : ''}${(100 * diff).toFixed(1)} points, 95% interval [${(100 * (diff - diffHalfWidth)).toFixed(1)}, ${(100 * (diff + diffHalfWidth)).toFixed(1)}]`,
    '',
    `The engine applied ${input.engineApplied.toLocaleString('en-US')} engagement events in all (history and the sends' responses). Done in ${input.seconds.toFixed(0)} s.`,
  );
  return lines.join('\n');
}
