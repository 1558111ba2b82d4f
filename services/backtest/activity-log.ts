import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { localDayOf, type ActivityRow } from './evaluate.ts';

const DAYS_PER_BUCKET = 32;

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

export function parseRow(line: string, lineNumber: number): ActivityRow | null {
  const trimmed = line.trim();
  if (trimmed === '' || (lineNumber === 1 && trimmed.startsWith('person'))) return null;
  const [person, utc, offset] = trimmed.split(',');
  const utcSeconds = Number(utc);
  const offsetMinutes = Number(offset);
  if (!person || !Number.isFinite(utcSeconds) || !Number.isInteger(offsetMinutes)) {
    throw new Error(`line ${lineNumber}: expected person,utc_epoch_s,tz_offset_min, got "${trimmed.slice(0, 80)}"`);
  }
  return { person, utcSeconds, offsetMinutes };
}

/**
 * Streams a CSV (plain or gzip) of any size and yields its rows grouped by local day, days in
 * order. Rows may come in any order: a first pass spills them into temporary files of 32 local
 * days each, a second pass sorts one such bucket at a time in memory. Memory is bounded by the
 * largest 32-day bucket, not by the file.
 */
export async function* daysOf(path: string, onRow?: (rows: number) => void): AsyncGenerator<ActivityRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sto-backtest-'));
  const buckets = new Map<number, WriteStream>();
  try {
    const input = createReadStream(path);
    const lines = createInterface({ input: (await isGzip(path)) ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
    let lineNumber = 0;
    for await (const line of lines) {
      lineNumber++;
      const row = parseRow(line, lineNumber);
      if (!row) continue;
      const bucket = Math.floor(localDayOf(row) / DAYS_PER_BUCKET);
      let out = buckets.get(bucket);
      if (!out) {
        out = createWriteStream(join(dir, `${bucket}.csv`));
        buckets.set(bucket, out);
      }
      if (!out.write(`${row.person},${row.utcSeconds},${row.offsetMinutes}\n`)) await new Promise<void>((resolve) => out!.once('drain', () => resolve()));
      if (lineNumber % 100_000 === 0) onRow?.(lineNumber);
    }
    await Promise.all([...buckets.values()].map((out) => new Promise<void>((resolve) => out.end(() => resolve()))));
    for (const bucket of [...buckets.keys()].sort((a, b) => a - b)) {
      const text = await readFile(join(dir, `${bucket}.csv`), 'utf8');
      const byDay = new Map<number, ActivityRow[]>();
      for (const line of text.split('\n')) {
        if (!line) continue;
        const [person, utc, offset] = line.split(',');
        const row = { person: person!, utcSeconds: Number(utc), offsetMinutes: Number(offset) };
        const day = localDayOf(row);
        const list = byDay.get(day);
        if (list) list.push(row);
        else byDay.set(day, [row]);
      }
      for (const day of [...byDay.keys()].sort((a, b) => a - b)) yield byDay.get(day)!;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
