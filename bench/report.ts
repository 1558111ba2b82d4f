/**
 * The shape every benchmark returns, and the benchmarks file `npm run bench` writes from them.
 * A figure is printed and written exactly as measured; a reference is measured in the same run
 * (a raw consumer beside the engine, a poller beside the timer, a baseline beside the model).
 */
import { cpus, totalmem, platform, release } from 'node:os';

export interface BenchFigure {
  /** What was measured, e.g. "engine ingest rate". */
  name: string;
  value: number;
  unit: string;
  /** The figure it is compared with, measured in the same run. */
  reference?: { name: string; value: number; unit: string };
  /** The same figure measured earlier (e.g. on the code before a change), with where it comes from. */
  previous?: { label: string; value: number; unit: string };
  /** The goal from the issue, in words, e.g. "p99 < 100 ms". */
  aim?: string;
  /** Whether the aim was met; omitted when there is no aim. */
  met?: boolean;
}

export interface BenchSection {
  title: string;
  /** How it was measured: sizes, rates, durations, in a sentence or two. */
  method: string;
  figures: BenchFigure[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

export function formatFigure(figure: BenchFigure): string {
  const earlier = figure.previous ? `earlier, ${figure.previous.label}: ${formatNumber(figure.previous.value)} ${figure.previous.unit}` : '';
  const sameRun = figure.reference ? `${figure.reference.name}: ${formatNumber(figure.reference.value)} ${figure.reference.unit}` : '';
  const reference = [sameRun, earlier].filter((text) => text !== '').join('; ');
  const aim = figure.aim ? `${figure.aim}${figure.met === undefined ? '' : figure.met ? ' (met)' : ' (not met)'}` : '';
  return `| ${figure.name} | ${formatNumber(figure.value)} ${figure.unit} | ${reference} | ${aim} |`;
}

export function formatSection(section: BenchSection): string {
  return [
    `## ${section.title}`,
    '',
    section.method,
    '',
    '| figure | value | reference (same run) | aim |',
    '| --- | --- | --- | --- |',
    ...section.figures.map(formatFigure),
    '',
  ].join('\n');
}

export function formatReport(sections: readonly BenchSection[], machine: MachineInfo, date: Date, extra: string[] = []): string {
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench`; every figure below was measured in the run described here, references included.',
    '',
    `- date: ${date.toISOString()}`,
    `- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}`,
    `- node: ${machine.node}`,
    ...extra.map((line) => `- ${line}`),
    '',
    ...sections.map(formatSection),
  ].join('\n');
}

/** Percentile by nearest rank of an unsorted sample (sorted in place). */
export function percentile(sample: number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  sample.sort((a, b) => a - b);
  const rank = Math.min(sample.length - 1, Math.max(0, Math.ceil((p / 100) * sample.length) - 1));
  return sample[rank]!;
}
