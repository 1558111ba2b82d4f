package io.sto.peer;

import java.util.concurrent.atomic.AtomicLong;

/** Records processed, and when the first and the latest one were (System.nanoTime). */
public final class Progress {
  private final AtomicLong records = new AtomicLong();
  private volatile long firstNanos;
  private volatile long lastNanos;

  void record() {
    long now = System.nanoTime();
    if (records.getAndIncrement() == 0) firstNanos = now;
    lastNanos = now;
  }

  public long records() {
    return records.get();
  }

  public long firstNanos() {
    return firstNanos;
  }

  public long lastNanos() {
    return lastNanos;
  }
}
