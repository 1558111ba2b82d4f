package io.sto.peer;

import java.lang.management.ManagementFactory;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Records processed, when the first and the latest one were (System.nanoTime), and the process's
 * CPU time (every thread: stream thread, producer and consumer I/O, GC, JIT) at the first one.
 */
public final class Progress {
  private final AtomicLong records = new AtomicLong();
  private volatile long firstNanos;
  private volatile long lastNanos;
  private volatile long firstCpuNanos;

  void record() {
    long now = System.nanoTime();
    if (records.getAndIncrement() == 0) {
      firstNanos = now;
      firstCpuNanos = processCpuNanos();
    }
    lastNanos = now;
  }

  /** CPU time of the whole process so far, in nanoseconds. */
  public static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  public long firstCpuNanos() {
    return firstCpuNanos;
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
