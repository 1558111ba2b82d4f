import type { ScheduledSend } from '../services/shared/contracts/record-types.ts';
import type { SchemaCodec, Writer } from '../services/shared/contracts/schema-codec.ts';

/** Digits of the numbered ids, fixed width so that every encoded record of a shape has the same layout. */
const SCHEDULE_DIGITS = 16;

export interface BenchMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}
const RECIPIENT_DIGITS = 10;

const pad = (value: number, digits: number) => String(value).padStart(digits, '0');

/** A scheduled send shaped like the engine's output (three top slots, a small payload). */
export function benchScheduledSend(index: number, recipient: number, sendAt: number, producedAt: number): ScheduledSend {
  return {
    scheduleId: `sch-${pad(index, SCHEDULE_DIGITS)}`,
    action: 'SCHEDULE',
    triggerId: `trg-${pad(index, SCHEDULE_DIGITS)}`,
    recipientId: `rcp-${pad(recipient, RECIPIENT_DIGITS)}`,
    campaignId: 'bench-campaign',
    messageId: null,
    channel: 'EMAIL',
    sendAt,
    localSendTime: new Date(sendAt).toISOString(),
    timeZone: 'Europe/Berlin',
    timeZoneSource: 'LEARNED',
    reason: 'OPTIMIZED',
    propensity: 0.95,
    exploration: false,
    arm: 'TREATMENT',
    topSlots: [0, 1, 2].map((slot) => ({ sendAt: sendAt + slot * 3_600_000, hourOfWeek: 40 + slot, score: 0.3 - slot * 0.05 })),
    evidence: { individual: 0.6, cohort: 0.3, global: 0.1 },
    bindingConstraint: 'NONE',
    modelVersion: 'bench',
    historyEvents: 42,
    historyActiveDays: 17,
    triggeredAt: producedAt,
    payload: Buffer.from('{"template":"bench","locale":"de-DE"}'),
  };
}

/**
 * Encodes numbered scheduled sends fast: the codec encodes one template per send instant, and
 * each record is a copy of its template with the fixed-width id digits written in place. The
 * bytes are exactly what the codec would produce for that record (checked once per template).
 */
export class ScheduledSendTemplates {
  readonly #codec: SchemaCodec;
  readonly #writer: Writer;
  readonly #templates = new Map<number, { bytes: Buffer; schedule: number; trigger: number; recipient: number }>();

  constructor(codec: SchemaCodec, writer: Writer) {
    this.#codec = codec;
    this.#writer = writer;
  }

  async #template(sendAt: number): Promise<{ bytes: Buffer; schedule: number; trigger: number; recipient: number }> {
    let template = this.#templates.get(sendAt);
    if (template) return template;
    const bytes = this.#codec.encode(this.#writer, benchScheduledSend(0, 0, sendAt, sendAt - 86_400_000));
    const offsetOf = (text: string) => {
      const at = bytes.indexOf(text, 0, 'latin1');
      if (at < 0 || bytes.indexOf(text, at + 1, 'latin1') >= 0) throw new Error(`template id ${text} not found exactly once`);
      return at + 4;
    };
    template = {
      bytes,
      schedule: offsetOf(`sch-${pad(0, SCHEDULE_DIGITS)}`),
      trigger: offsetOf(`trg-${pad(0, SCHEDULE_DIGITS)}`),
      recipient: offsetOf(`rcp-${pad(0, RECIPIENT_DIGITS)}`),
    };
    this.#templates.set(sendAt, template);
    // The patched bytes must decode to the record the codec would have encoded.
    const probe = this.#patch(template, 123_456, 7_890);
    const decoded = await this.#codec.decode<ScheduledSend>('scheduled', probe.value);
    const expected = benchScheduledSend(123_456, 7_890, sendAt, sendAt - 86_400_000);
    if (decoded.scheduleId !== expected.scheduleId || decoded.recipientId !== expected.recipientId || decoded.triggerId !== expected.triggerId || decoded.sendAt !== sendAt) {
      throw new Error('patched scheduled-send template does not decode to the expected record');
    }
    return template;
  }

  #patch(template: { bytes: Buffer; schedule: number; trigger: number; recipient: number }, index: number, recipient: number): BenchMessage {
    const value = Buffer.allocUnsafe(template.bytes.length);
    template.bytes.copy(value);
    const id = pad(index, SCHEDULE_DIGITS);
    value.write(id, template.schedule, 'latin1');
    value.write(id, template.trigger, 'latin1');
    const recipientDigits = pad(recipient, RECIPIENT_DIGITS);
    value.write(recipientDigits, template.recipient, 'latin1');
    // The headers the engine puts on every scheduled send.
    return { key: `rcp-${recipientDigits}`, value, headers: { 'sto-schedule-id': `sch-${id}`, 'sto-channel': 'EMAIL' } };
  }

  /** The framed record of send `index` to `recipient` at `sendAt`, keyed by its recipient id. */
  async message(index: number, recipient: number, sendAt: number): Promise<BenchMessage> {
    return this.#patch(await this.#template(sendAt), index, recipient);
  }

  /** Encoded size of a record (all records of the bench have the same size). */
  async recordBytes(sendAt: number): Promise<number> {
    return (await this.#template(sendAt)).bytes.length;
  }
}
