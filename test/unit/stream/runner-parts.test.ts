import { describe, expect, it } from 'vitest';
import { changelogEntry, CHANGELOG_OFFSET_KEY_PREFIX } from '../../../services/shared/stream/changelog.ts';
import { LoopWatchdog } from '../../../services/shared/stream/loop-watchdog.ts';
import { assignmentDiff, Membership } from '../../../services/shared/stream/membership.ts';
import { RunnerLifecycle } from '../../../services/shared/stream/runner-lifecycle.ts';

describe('changelog entries', () => {
  const key = (text: string) => Buffer.from(text);
  it('reads state and offset records', () => {
    expect(changelogEntry(key('c:x'), Buffer.from('1'))).toEqual({ kind: 'state', key: 'c:x', value: Buffer.from('1') });
    expect(changelogEntry(key('c:x'), null)).toEqual({ kind: 'state', key: 'c:x', value: null });
    expect(changelogEntry(key(`${CHANGELOG_OFFSET_KEY_PREFIX}t`), Buffer.from('42'))).toEqual({ kind: 'offset', topic: 't', offset: 42 });
  });

  it('refuses an offset that is not a non-negative integer, and a record without a key', () => {
    for (const value of ['abc', '', '-1', '1.5', ' 7', '1e3']) {
      expect(changelogEntry(key(`${CHANGELOG_OFFSET_KEY_PREFIX}t`), Buffer.from(value))).toHaveProperty('reason');
    }
    expect(changelogEntry(key(`${CHANGELOG_OFFSET_KEY_PREFIX}t`), null)).toHaveProperty('reason');
    expect(changelogEntry(null, Buffer.from('1'))).toHaveProperty('reason');
  });
});

describe('loop watchdog', () => {
  it('reports a loop without fetches, and one whose batches keep failing, after the stall time', () => {
    let now = 0;
    const watchdog = new LoopWatchdog(10_000, () => now);
    now = 9_999;
    expect(watchdog.stalled()).toBeNull();
    now = 10_000;
    expect(watchdog.stalled()).toMatch(/no fetch completed/);
    watchdog.fetched();
    expect(watchdog.stalled()).toBeNull();
    watchdog.batchFailed('disk full');
    now = 15_000;
    watchdog.fetched(); // a fetch while a batch keeps failing is no progress
    now = 20_000;
    expect(watchdog.stalled()).toMatch(/a batch keeps failing \(disk full\)/);
    watchdog.batchSucceeded();
    expect(watchdog.stalled()).toBeNull();
    watchdog.punctuationFailed('store closed');
    now = 30_000;
    watchdog.fetched();
    expect(watchdog.stalled()).toMatch(/punctuation has failed for 10 s/);
    watchdog.punctuationSucceeded();
    expect(watchdog.stalled()).toBeNull();
  });
});

describe('runner lifecycle', () => {
  it('moves through named phases only', () => {
    const lifecycle = new RunnerLifecycle();
    expect(lifecycle.to('running')).toBe(false);
    expect(lifecycle.to('joining')).toBe(true);
    expect(lifecycle.to('failed', 'store cannot open')).toBe(true);
    expect(lifecycle.active).toBe(false);
    expect(lifecycle.reason).toBe('store cannot open');
    expect(lifecycle.to('running')).toBe(false);
    expect(lifecycle.to('stopping')).toBe(true);
    expect(lifecycle.to('stopped')).toBe(true);
    expect(lifecycle.phase).toBe('stopped');
  });
});

describe('membership', () => {
  it('diffs assignments across co-partitioned topics', () => {
    expect(assignmentDiff([0, 1, 2], { a: [1, 3], b: [1, 3, 4] }, ['a', 'b'])).toEqual({ next: [1, 3, 4], added: [3, 4], revoked: [0, 2] });
  });

  it('owns nothing it may commit for between a rebalance and the next assignment', () => {
    const membership = new Membership<null>(0);
    const { added } = membership.assign({ t: [0, 1] }, ['t']);
    for (const owned of added) {
      owned.phase = 'ready';
      owned.store = {} as never;
    }
    expect(added.map((owned) => membership.owns(owned))).toEqual([true, true]);
    membership.fence();
    expect(added.map((owned) => membership.owns(owned))).toEqual([false, false]);
    const { revoked } = membership.assign({ t: [0] }, ['t']);
    expect(revoked.map((owned) => owned.partition)).toEqual([1]);
    expect(added.map((owned) => membership.owns(owned))).toEqual([true, false]);
  });
});
