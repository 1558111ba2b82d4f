import { readdir } from 'node:fs/promises';
import { decodeProfile, cellParts } from '../model/profile.ts';
import { decodeRecipient } from './recipient-record.ts';
import { PartitionStore } from '../shared/stream/partition-store.ts';

export interface DumpLine {
  key: string;
  events: number;
  activeDays: number;
  timeZone: string | null;
  refMs: number;
  cells: [string, number][];
}

/**
 * A canonical view of the engine's stores under `stateDir` (the engine must be stopped: LevelDB
 * allows one process per store): every recipient and aggregate, cells rounded to 6 significant
 * digits, sorted, so two runs can be compared line by line.
 */
export async function dumpEngineState(stateDir: string, only?: readonly number[]): Promise<DumpLine[]> {
  const partitions = (await readdir(stateDir).catch(() => [] as string[]))
    .map((name) => /^partition-(\d+)$/.exec(name)?.[1])
    .filter((value): value is string => value !== undefined)
    .map(Number)
    .filter((partition) => !only || only.includes(partition));
  const lines: DumpLine[] = [];
  for (const partition of partitions.sort((a, b) => a - b)) {
    const store = await PartitionStore.open({ baseDir: stateDir, partition });
    try {
      lines.push(...(await dumpStore(store)));
    } finally {
      await store.close();
    }
  }
  return lines.sort((a, b) => a.key.localeCompare(b.key));
}

/** The canonical lines of one open store. */
export async function dumpStore(store: PartitionStore): Promise<DumpLine[]> {
  const partition = store.partition;
  const lines: DumpLine[] = [];
  {
    {
      for await (const [key, value] of store.entries({ gte: 'a:', lt: 's' })) {
        if (!key.startsWith('r:') && !key.startsWith('a:')) continue;
        const profile = key.startsWith('r:') ? decodeRecipient(value).profile : decodeProfile(value);
        const name = key.startsWith('a:') ? `p${partition}/${key}` : key;
        const cells = [...profile.cells.entries()]
          .map(([index, cellValue]): [string, number] => {
            const parts = cellParts(index);
            return [`${parts.channel}/${parts.signal}/${parts.slot}`, Number(cellValue.toPrecision(6))];
          })
          .sort((a, b) => a[0].localeCompare(b[0]));
        lines.push({ key: name, events: profile.events, activeDays: profile.activeDays, timeZone: profile.timeZone, refMs: profile.refMs, cells });
      }
    }
  }
  return lines;
}
