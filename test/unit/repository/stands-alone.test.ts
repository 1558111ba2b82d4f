import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BINARY = /\.(gz|png|jpg|jpeg|ico|woff2?)$/;

function trackedTextFiles(): string[] {
  const listing = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return listing.split('\0').filter((file) => file !== '' && !BINARY.test(file));
}

/** Relative references (`../x`, `../../x/y`) that resolve to a place outside the repository. */
export function referencesOutside(file: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\.\.\/)+[^\s'"`)\]>,;]*/g)) {
    const target = resolve(ROOT, dirname(file), match[0]);
    const inside = relative(ROOT, target);
    if (inside.startsWith('..') || isAbsolute(inside)) found.push(match[0]);
  }
  return found;
}

describe('the repository stands alone', () => {
  it('finds a reference that climbs out of the repository (the check can fail)', () => {
    expect(referencesOutside('bench/run-all.ts', "new URL('../../elsewhere/data.csv.gz', import.meta.url)")).toEqual(['../../elsewhere/data.csv.gz']);
    expect(referencesOutside('README.md', 'see [the protocol](../notes/protocol.md)')).toEqual(['../notes/protocol.md']);
    expect(referencesOutside('bench/run-all.ts', "new URL('../data/git.csv.gz', import.meta.url)")).toEqual([]);
  });

  it('no tracked file refers to a path outside the repository', () => {
    const offenders = trackedTextFiles().flatMap((file) =>
      referencesOutside(file, readFileSync(join(ROOT, file), 'utf8')).map((reference) => `${file}: ${reference}`),
    );
    expect(offenders).toEqual([]);
  });
});
