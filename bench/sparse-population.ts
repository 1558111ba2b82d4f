import type { EngagementEvent } from '../services/shared/contracts/record-types.ts';
import { SeededRandom } from '../services/simulator/seeded-random.ts';

// The benches' synthetic engagement history: one generator, whole (engine bench) or in batches
// (the growth bench, at millions of recipients).

const ZONES = ['America/New_York', 'America/Chicago', 'America/Los_Angeles', 'America/Sao_Paulo', 'Europe/London', 'Europe/Berlin', 'Africa/Lagos', 'Asia/Kolkata', 'Asia/Shanghai', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Auckland'];

/** Seeded uniform numbers in [0, 1): the population is the same on every run. */
export function prng(seed: number): () => number {
  const random = new SeededRandom(['bench', seed]);
  return () => random.next();
}

export const SPARSE_POPULATION_SEED = 20_261_123;

/**
 * A sparse population: most recipients have a handful of events over 90 days, a few have many
 * (geometric counts, mean about 3); sends, opens (some by machines), clicks and sessions, each
 * recipient in one of a dozen zones; ordered by event time as an upstream stream would be.
 */
export function sparsePopulation(recipients: number, now: number): EngagementEvent[] {
  return [...sparsePopulationBatches(recipients, now, Number.MAX_SAFE_INTEGER)].flat();
}

const EVENT_TYPES = ['SEND', 'OPEN', 'CLICK', 'SESSION'] as const;

/**
 * The sparse population handed out `batchSize` records at a time, in event-time order (generation
 * order on ties), held as columns until then: 5,000,000 recipients are 12.7 million events, which
 * as objects (and their encoded messages) would not fit a default Node heap.
 */
export function* sparsePopulationBatches(recipients: number, now: number, batchSize = 2_000): Generator<EngagementEvent[]> {
  const random = prng(SPARSE_POPULATION_SEED);
  let capacity = Math.max(1_024, recipients * 3);
  let recipient = new Int32Array(capacity);
  let ordinal = new Uint8Array(capacity);
  let occurredAt = new Float64Array(capacity);
  let kind = new Uint8Array(capacity);
  let day = new Uint8Array(capacity);
  // Bit 0: carries the zone; bit 1: a machine open.
  let flags = new Uint8Array(capacity);
  let count = 0;
  const grow = () => {
    capacity *= 2;
    const wider = <T extends Int32Array | Uint8Array | Float64Array>(old: T): T => {
      const next = new (old.constructor as new (length: number) => T)(capacity);
      next.set(old);
      return next;
    };
    [recipient, ordinal, occurredAt, kind, day, flags] = [wider(recipient), wider(ordinal), wider(occurredAt), wider(kind), wider(day), wider(flags)];
  };
  for (let r = 0; r < recipients; r++) {
    const events = 1 + Math.min(60, Math.floor(-Math.log(1 - random()) * 2));
    const habitHour = Math.floor(random() * 24);
    for (let i = 0; i < events; i++) {
      if (count === capacity) grow();
      const draw = random();
      const type = draw < 0.4 ? 0 : draw < 0.75 ? 1 : draw < 0.85 ? 2 : 3;
      const eventDay = Math.floor(random() * 90);
      recipient[count] = r;
      ordinal[count] = i;
      kind[count] = type;
      day[count] = eventDay;
      occurredAt[count] = now - eventDay * 86_400_000 - Math.floor(((habitHour + random() * 3) % 24) * 3_600_000);
      const zoned = i === 0 || random() < 0.3;
      const machine = type === 1 && random() < 0.1;
      flags[count] = (zoned ? 1 : 0) | (machine ? 2 : 0);
      count++;
    }
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((a, b) => occurredAt[a]! - occurredAt[b]! || a - b);
  for (let start = 0; start < count; start += batchSize) {
    const batch: EngagementEvent[] = [];
    for (let k = start; k < Math.min(count, start + batchSize); k++) {
      const at = order[k]!;
      const r = recipient[at]!;
      const eventType = EVENT_TYPES[kind[at]!]!;
      batch.push({
        eventId: `e-${r}-${ordinal[at]}`,
        recipientId: `rcpt-${r}`,
        channel: r % 6 === 0 ? 'PUSH' : 'EMAIL',
        eventType,
        occurredAt: occurredAt[at]!,
        timeZone: (flags[at]! & 1) !== 0 ? ZONES[r % ZONES.length]! : null,
        campaignId: `c-${day[at]}`,
        messageId: null,
        machineOpen: (flags[at]! & 2) !== 0 ? true : null,
        userAgent: null,
        deliveredAt: null,
        attributes: {},
      });
    }
    yield batch;
  }
}
