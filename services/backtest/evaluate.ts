/** One activity: a person, an instant (UTC epoch seconds) and the person's UTC offset then. */
export interface ActivityRow {
  person: string;
  utcSeconds: number;
  offsetMinutes: number;
}

/** A send-time policy as the backtest sees it: a local hour for a day, then that day's history. */
export interface BacktestPolicy {
  readonly name: string;
  /** The local hour 0..23 at which the day's message goes. Uses only earlier days. */
  chooseHour(person: string, localDay: number, offsetMinutes: number): number;
  /** The day's rows of one person (chronological, one per local hour), after every choice of the day. */
  observe(person: string, localDay: number, rows: readonly ActivityRow[]): void;
}

export interface PolicyScore {
  hit1h: number;
  hit2h: number;
  hit4h: number;
  warm_hit2h: number;
}

export interface BacktestResult {
  pairs: number;
  warm_pairs: number;
  persons: number;
  policies: Record<string, PolicyScore>;
  /** Per group of persons (when `groupOf` is given): the same figures over that group's pairs. */
  groups?: Record<string, { pairs: number; warm_pairs: number; persons: number; policies: Record<string, PolicyScore> }>;
}

const WARM_DAYS = 5;

export function localSeconds(row: ActivityRow): number {
  return row.utcSeconds + 60 * row.offsetMinutes;
}

export function localDayOf(row: ActivityRow): number {
  return Math.floor(localSeconds(row) / 86_400);
}

/**
 * The daily-trigger protocol: days in order of local day number; for each (person, day) the
 * policies choose a local hour from earlier days only; hit@H when the day's first row falls in
 * [hour, hour + H). Then the day's rows (one per person per local hour) become history.
 * `days` yields each local day's rows, days in increasing order.
 */
/** The protocol one local day at a time: `add` each day's rows in increasing day order, then `finish`. */
export function createEvaluation(
  policies: BacktestPolicy[],
  onProgress?: (pairs: number) => void,
  groupOf?: (person: string) => string,
): { add(dayRows: ActivityRow[]): void; finish(): BacktestResult } {
  const newTally = () => ({ pairs: 0, warmPairs: 0, persons: new Set<string>(), hits: new Map(policies.map((policy) => [policy.name, { h1: 0, h2: 0, h4: 0, warm2: 0 }])) });
  const all = newTally();
  const groups = new Map<string, ReturnType<typeof newTally>>();
  const activeDays = new Map<string, number>();
  const add = (dayRows: ActivityRow[]): void => {
    if (dayRows.length === 0) return;
    const day = localDayOf(dayRows[0]!);
    const byPerson = new Map<string, ActivityRow[]>();
    for (const row of dayRows) {
      const list = byPerson.get(row.person);
      if (list) list.push(row);
      else byPerson.set(row.person, [row]);
    }
    for (const [person, rows] of byPerson) {
      rows.sort((a, b) => a.utcSeconds - b.utcSeconds);
      const first = rows[0]!;
      const target = localSeconds(first) - day * 86_400;
      const warm = (activeDays.get(person) ?? 0) >= WARM_DAYS;
      const tallies = [all];
      if (groupOf) {
        const name = groupOf(person);
        let group = groups.get(name);
        if (!group) {
          group = newTally();
          groups.set(name, group);
        }
        tallies.push(group);
      }
      for (const tally of tallies) {
        tally.pairs++;
        if (warm) tally.warmPairs++;
        tally.persons.add(person);
      }
      for (const policy of policies) {
        const start = policy.chooseHour(person, day, first.offsetMinutes) * 3_600;
        const within = (hours: number) => target >= start && target < start + hours * 3_600;
        for (const { hits } of tallies) {
          const tally = hits.get(policy.name)!;
          if (within(1)) tally.h1++;
          if (within(2)) {
            tally.h2++;
            if (warm) tally.warm2++;
          }
          if (within(4)) tally.h4++;
        }
      }
    }
    for (const [person, rows] of byPerson) {
      const seenHours = new Set<number>();
      const history = rows.filter((row) => {
        const hour = Math.floor((localSeconds(row) - day * 86_400) / 3_600);
        if (seenHours.has(hour)) return false;
        seenHours.add(hour);
        return true;
      });
      for (const policy of policies) policy.observe(person, day, history);
      activeDays.set(person, (activeDays.get(person) ?? 0) + 1);
    }
    onProgress?.(all.pairs);
  };
  const finish = (): BacktestResult => {
  const rate = (count: number, of: number) => (of === 0 ? 0 : Number((count / of).toFixed(4)));
  const summary = (tally: ReturnType<typeof newTally>) => {
    const policiesResult: Record<string, PolicyScore> = {};
    for (const [name, hit] of tally.hits) {
      policiesResult[name] = { hit1h: rate(hit.h1, tally.pairs), hit2h: rate(hit.h2, tally.pairs), hit4h: rate(hit.h4, tally.pairs), warm_hit2h: rate(hit.warm2, tally.warmPairs) };
    }
    return { pairs: tally.pairs, warm_pairs: tally.warmPairs, persons: tally.persons.size, policies: policiesResult };
  };
  const result: BacktestResult = { ...summary(all), persons: activeDays.size };
  if (groupOf) result.groups = Object.fromEntries([...groups.keys()].sort().map((name) => [name, summary(groups.get(name)!)]));
    return result;
  };
  return { add, finish };
}

export function evaluate(
  days: Iterable<ActivityRow[]>,
  policies: BacktestPolicy[],
  onProgress?: (pairs: number) => void,
  groupOf?: (person: string) => string,
): BacktestResult {
  const evaluation = createEvaluation(policies, onProgress, groupOf);
  for (const dayRows of days) evaluation.add(dayRows);
  return evaluation.finish();
}

/** The same over a stream of days: memory holds one day of rows and the policies' state. */
export async function evaluateStream(
  days: AsyncIterable<ActivityRow[]>,
  policies: BacktestPolicy[],
  onProgress?: (pairs: number) => void,
): Promise<BacktestResult> {
  const evaluation = createEvaluation(policies, onProgress);
  for await (const dayRows of days) evaluation.add(dayRows);
  return evaluation.finish();
}
