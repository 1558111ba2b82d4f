import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DATA = new URL('../../../data/', import.meta.url);

/** The files and checksums that data/README.md documents. */
function documentedFiles(): Array<{ name: string; sha256: string }> {
  const readme = readFileSync(new URL('README.md', DATA), 'utf8');
  return [...readme.matchAll(/^\| `([\w.-]+\.csv\.gz)` \|.*\| `([0-9a-f]{64})` \|$/gm)].map(([, name, sha256]) => ({ name: name!, sha256: sha256! }));
}

describe('data/', () => {
  it('documents both activity logs', () => {
    expect(documentedFiles().map((file) => file.name)).toEqual(['git-activity.csv.gz', 'rails-activity.csv.gz']);
  });

  it.each(documentedFiles())('$name is the file data/README.md describes', ({ name, sha256 }) => {
    expect(createHash('sha256').update(readFileSync(new URL(name, DATA))).digest('hex')).toBe(sha256);
  });
});
