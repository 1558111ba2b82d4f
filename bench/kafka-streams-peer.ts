/**
 * The Kafka Streams peer (bench/peers/kafka-streams): built with Maven once (the jar is kept
 * until a source changes; offline when the local repository already holds the dependencies), run
 * as a child JVM on the bench's topic, and its counters compared with the engine's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../services/model/profile.ts';

const PEER = fileURLToPath(new URL('./peers/kafka-streams/', import.meta.url));
const JAR = join(PEER, 'target', 'kafka-streams-peer-1.jar');

export type Guarantee = 'exactly_once_v2' | 'at_least_once';

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function jarIsCurrent(): boolean {
  try {
    return statSync(JAR).mtimeMs >= Math.max(newestSource(join(PEER, 'src')), statSync(join(PEER, 'pom.xml')).mtimeMs) && readdirSync(join(PEER, 'target', 'lib')).length > 0;
  } catch {
    return false;
  }
}

/** Builds the peer unless its jar is newer than every source; offline first, then from Maven Central. */
export function buildPeer(log: (message: string) => void): void {
  if (jarIsCurrent()) return;
  for (const offline of [true, false]) {
    log(`building the Kafka Streams peer with Maven${offline ? ' (offline)' : ' (fetching from Maven Central)'}`);
    const result = spawnSync('mvn', ['-q', '-B', ...(offline ? ['-o'] : []), '-f', join(PEER, 'pom.xml'), 'package', '-DskipTests'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error) throw new Error(`Maven could not run (${result.error.message}); it builds the Kafka Streams peer (Java 17)`);
    if (result.status === 0 && jarIsCurrent()) return;
    if (!offline) throw new Error(`Maven could not build the Kafka Streams peer:\n${result.stdout}${result.stderr}`.slice(0, 4_000));
  }
}

export interface PeerRun {
  rate: number;
  seconds: number;
  records: number;
  /** CPU time of the whole JVM over the same span (every thread, GC and JIT included). */
  cpuSeconds: number;
}

/** Runs the peer until it processed `records` records; with `sample`, it writes those recipients' counters to `dump`. */
export async function runPeer(options: {
  bootstrap: string;
  registry: string;
  topic: string;
  applicationId: string;
  guarantee: Guarantee;
  stateDir: string;
  records: number;
  lookBackDays: number;
  sample?: { ids: string; dump: string };
  timeoutSeconds: number;
}): Promise<PeerRun> {
  const args = [
    '-Xmx1g',
    '-cp',
    `${join(PEER, 'target', 'classes')}:${join(PEER, 'target', 'lib', '*')}`,
    'io.sto.peer.IngestPeer',
    `--bootstrap=${options.bootstrap}`,
    `--registry=${options.registry}`,
    `--topic=${options.topic}`,
    `--application-id=${options.applicationId}`,
    `--guarantee=${options.guarantee}`,
    `--state-dir=${options.stateDir}`,
    `--records=${options.records}`,
    `--look-back-days=${options.lookBackDays}`,
    `--timeout-seconds=${options.timeoutSeconds}`,
    ...(options.sample ? [`--sample=${options.sample.ids}`, `--dump=${options.sample.dump}`] : []),
  ];
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8_000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  const line = stdout.split('\n').find((text) => text.startsWith('{"records"'));
  if (code !== 0 || !line) throw new Error(`the Kafka Streams peer (${options.guarantee}) exited with ${code}:\n${stderr}`);
  return JSON.parse(line) as PeerRun;
}

/** One recipient's counters as the peer dumped them. */
export interface PeerCounters {
  recipientId: string;
  missing?: boolean;
  events: number;
  activeDays: number;
  refMs: number;
  timeZone: string | null;
  /** The predictive record of the recent layer (log-odds, in thousandths as stored). */
  recentLogOdds: number;
  cells: Record<string, number>;
}

export async function readPeerDump(path: string): Promise<Map<string, PeerCounters>> {
  const out = new Map<string, PeerCounters>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const counters = JSON.parse(line) as PeerCounters;
    out.set(counters.recipientId, counters);
  }
  return out;
}

/**
 * Why the peer's counters differ from the engine's profile, or null when they agree: the same
 * counts, zone, reference time and predictive record of the recent layer, the same cells (the
 * recent layer's among them), each value within `tolerance` (relative; both sides keep values on
 * the same 16-bit log grid, whose step is 0.07%).
 */
export function counterDifference(engine: Profile | null, peer: PeerCounters | undefined, tolerance = 0.002): string | null {
  if (!peer || peer.missing) return engine ? 'missing in the peer' : null;
  if (!engine) return 'missing in the engine';
  if (engine.events !== peer.events) return `events ${engine.events} vs ${peer.events}`;
  if (engine.activeDays !== peer.activeDays) return `active days ${engine.activeDays} vs ${peer.activeDays}`;
  if (engine.refMs !== peer.refMs) return `reference time ${engine.refMs} vs ${peer.refMs}`;
  if (engine.timeZone !== peer.timeZone) return `zone ${engine.timeZone} vs ${peer.timeZone}`;
  // Both keep it in thousandths: equal, or one rounding apart at most.
  if (!(Math.abs(engine.recentLogOdds - peer.recentLogOdds) < 0.0005)) return `recent log-odds ${engine.recentLogOdds} vs ${peer.recentLogOdds}`;
  const peerCells = Object.entries(peer.cells);
  if (peerCells.length !== engine.cells.size) return `${engine.cells.size} cells vs ${peerCells.length}`;
  for (const [index, value] of peerCells) {
    const mine = engine.cells.get(Number(index));
    if (mine === undefined) return `cell ${index} only in the peer`;
    if (Math.abs(mine - value) > tolerance * Math.max(Math.abs(mine), Math.abs(value))) return `cell ${index}: ${mine} vs ${value}`;
  }
  return null;
}
