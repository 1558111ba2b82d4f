package io.sto.peer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One recipient's decayed hour-of-week counters per channel and signal, its recent layer (a
 * second copy of the first engagements of the day that also decays per active day) with the
 * predictive record that weighs it, and its recent event ids: the engine's per-recipient model
 * (services/model/profile.ts, services/engine/recent-event-ids.ts) in Java, with the same 16-bit
 * log grid after every change, so both sides agree on every counter for the same events in the
 * same order.
 */
public final class RecipientCounters {
  public static final String[] CHANNELS = {"EMAIL", "PUSH", "SMS", "IN_APP"};
  public static final String[] SIGNALS = {"EXPOSURE", "HUMAN_OPEN", "MACHINE_OPEN", "CLICK", "CONVERSION", "SESSION", "FIRST_ENGAGEMENT"};
  public static final int HOURS_PER_WEEK = 168;
  public static final int FIRST_ENGAGEMENT = 6;
  private static final int CELLS_PER_CHANNEL = SIGNALS.length * HOURS_PER_WEEK;
  /** The recent layer's rows (one per channel) come after every (channel, signal) row. */
  static final int RECENT_BASE = CHANNELS.length * CELLS_PER_CHANNEL;
  /** Recent-layer cells below this are dropped (the engine's RECENT_FLOOR). */
  private static final double RECENT_FLOOR = Math.pow(2, -6);
  private static final double DAY_MS = 86_400_000d;
  private static final int LOG_MIN = -20;
  private static final int STEPS_PER_OCTAVE = 1024;
  private static final int MAX_CODE = 65_535;
  private static final double LN2 = Math.log(2);

  public long refMs;
  public long firstSeenMs;
  public int events;
  public int activeDays;
  public long lastActiveDay = -1;
  public int lastEngagedSlot = -1;
  public long lastEngagedMs;
  public String timeZone;
  /** Log-odds of the recent layer against the long one, in thousandths (the engine's recentLogOdds). */
  public long recentLogOddsMilli;
  /** Sparse cells: index = channel * 7 * 168 + signal * 168 + slot, unsorted; values on the grid. */
  int[] cellIndex = new int[8];
  double[] cellValue = new double[8];
  int cellCount;
  /** Recent event ids: FNV-1a hash and event second, oldest first. */
  int[] recentHash = new int[4];
  long[] recentSecond = new long[4];
  int recentCount;

  public static int cellIndex(int channel, int signal, int slot) {
    return channel * CELLS_PER_CHANNEL + signal * HOURS_PER_WEEK + slot;
  }

  public static int recentCellIndex(int channel, int slot) {
    return RECENT_BASE + channel * HOURS_PER_WEEK + slot;
  }

  static boolean isHuman(int signal) {
    return signal == 1 || signal == 3 || signal == 4 || signal == 5;
  }

  static int code(double value) {
    return (int) Math.min(MAX_CODE, Math.round((Math.log(value) / LN2 - LOG_MIN) * STEPS_PER_OCTAVE));
  }

  static double valueOf(int code) {
    return Math.pow(2, (double) code / STEPS_PER_OCTAVE + LOG_MIN);
  }

  static double quantize(double value) {
    if (!(value > Math.pow(2, LOG_MIN))) return 0;
    return valueOf(code(value));
  }

  static double decayFactor(long fromMs, long toMs, double halfLifeDays) {
    return Math.pow(2, -(double) (toMs - fromMs) / (halfLifeDays * DAY_MS));
  }

  /** FNV-1a over the id's UTF-16 code units, as the engine hashes it. */
  static int hash(String eventId) {
    int hash = 0x811c9dc5;
    for (int i = 0; i < eventId.length(); i++) {
      hash ^= eventId.charAt(i);
      hash *= 0x01000193;
    }
    return hash;
  }

  /** True when the id was seen inside the window; otherwise records it (bounded in age and count). */
  public boolean seenOrRecord(String eventId, long atMs, long windowMs, int maxIds) {
    if (maxIds == 0 || windowMs == 0) return false;
    int hash = hash(eventId);
    long second = Math.max(0, Math.floorDiv(atMs, 1000));
    long horizon = second - windowMs / 1000;
    for (int i = 0; i < recentCount; i++) if (recentHash[i] == hash && recentSecond[i] >= horizon) return true;
    if (recentCount == recentHash.length) {
      recentHash = Arrays.copyOf(recentHash, recentCount * 2);
      recentSecond = Arrays.copyOf(recentSecond, recentCount * 2);
    }
    recentHash[recentCount] = hash;
    recentSecond[recentCount++] = second;
    int kept = 0;
    for (int i = 0; i < recentCount; i++) if (recentSecond[i] >= horizon) kept++;
    int skip = Math.max(0, kept - maxIds);
    int out = 0;
    for (int i = 0; i < recentCount; i++) {
      if (recentSecond[i] < horizon) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      recentHash[out] = recentHash[i];
      recentSecond[out++] = recentSecond[i];
    }
    recentCount = out;
    return false;
  }

  private int find(int index) {
    for (int i = 0; i < cellCount; i++) if (cellIndex[i] == index) return i;
    return -1;
  }

  private void removeAt(int at) {
    cellCount--;
    cellIndex[at] = cellIndex[cellCount];
    cellValue[at] = cellValue[cellCount];
  }

  private void addCell(int index, double amount) {
    int at = find(index);
    double next = quantize((at >= 0 ? cellValue[at] : 0) + amount);
    if (next == 0) {
      if (at >= 0) removeAt(at);
      return;
    }
    if (at >= 0) {
      cellValue[at] = next;
      return;
    }
    if (cellCount == cellIndex.length) {
      cellIndex = Arrays.copyOf(cellIndex, cellCount * 2);
      cellValue = Arrays.copyOf(cellValue, cellCount * 2);
    }
    cellIndex[cellCount] = index;
    cellValue[cellCount++] = next;
  }

  private void decayTo(long toMs, double halfLifeDays) {
    if (toMs <= refMs) return;
    if (cellCount > 0) {
      double factor = decayFactor(refMs, toMs, halfLifeDays);
      for (int i = cellCount - 1; i >= 0; i--) {
        double next = quantize(cellValue[i] * factor);
        if (next == 0) removeAt(i);
        else cellValue[i] = next;
      }
    }
    refMs = toMs;
  }

  /** The recent layer's parameters (the engine's DEFAULT_MODEL_PARAMS: services/model/score.ts). */
  public record RecentLayer(double dayDecay, double priorDays, double forget, double maxLogOdds) {}

  /**
   * A new active day (services/model/profile.ts updateRecentLayer): the long and the recent
   * first-engagement rows of the channel, as they stood before the day, each predict the hour of
   * its first engagement (hour of day pooled over the week, kernel 0.5 on the hour and 0.25 on
   * each neighbour, `priorDays` spread uniformly); the log of their ratio joins the record (in
   * thousandths, bounded). Then the recent layer decays by a day and takes the engagement. Sums run
   * in slot order and the logarithm is fdlibm's (StrictMath, as V8's), so both sides round alike.
   */
  private void updateRecentLayer(int channel, int slot, double weight, RecentLayer recent, double[] longRow, double[] recentRow) {
    int hour = slot % 24;
    int longBase = cellIndex(channel, FIRST_ENGAGEMENT, 0);
    int recentBase = recentCellIndex(channel, 0);
    Arrays.fill(longRow, 0);
    Arrays.fill(recentRow, 0);
    for (int i = 0; i < cellCount; i++) {
      int index = cellIndex[i];
      if (index >= longBase && index < longBase + HOURS_PER_WEEK) longRow[index - longBase] = cellValue[i];
      else if (index >= recentBase && index < recentBase + HOURS_PER_WEEK) recentRow[index - recentBase] = cellValue[i];
    }
    double longTotal = 0;
    double recentTotal = 0;
    double longNear = 0;
    double recentNear = 0;
    for (int at = 0; at < HOURS_PER_WEEK; at++) {
      int h = at % 24;
      longTotal += longRow[at];
      recentTotal += recentRow[at];
      int distance = Math.min((h - hour + 24) % 24, (hour - h + 24) % 24);
      double kernel = distance == 0 ? 0.5 : distance == 1 ? 0.25 : 0;
      longNear += kernel * longRow[at];
      recentNear += kernel * recentRow[at];
    }
    if (longTotal > 0) {
      double prior = recent.priorDays();
      double pLong = (longNear + prior / 24) / (longTotal + prior);
      double pRecent = (recentNear + prior / 24) / (recentTotal + prior);
      double next = recent.forget() * (recentLogOddsMilli / 1000d) + StrictMath.log(pRecent / pLong);
      recentLogOddsMilli = Math.round(Math.max(-recent.maxLogOdds(), Math.min(recent.maxLogOdds(), next)) * 1000);
    }
    for (int i = cellCount - 1; i >= 0; i--) {
      if (cellIndex[i] < RECENT_BASE) continue;
      double decayed = quantize(cellValue[i] * recent.dayDecay());
      if (decayed < RECENT_FLOOR) removeAt(i);
      else cellValue[i] = decayed;
    }
    addCell(recentCellIndex(channel, slot), weight);
  }

  /** One event: decays to the newest event time, adds the event's weight, derives the day's first engagement. */
  public void apply(int channel, int signal, int slot, long localDay, long atMs, double halfLifeDays, RecentLayer recent, double[] longRow, double[] recentRow) {
    if (events == 0 || atMs < firstSeenMs) firstSeenMs = atMs;
    decayTo(atMs, halfLifeDays);
    double weight = atMs != refMs ? decayFactor(atMs, refMs, halfLifeDays) : 1;
    addCell(cellIndex(channel, signal, slot), weight);
    events++;
    boolean human = isHuman(signal);
    if (human && (lastEngagedSlot < 0 || atMs >= lastEngagedMs)) {
      lastEngagedSlot = slot;
      lastEngagedMs = atMs;
    }
    if (human && localDay > lastActiveDay) {
      lastActiveDay = localDay;
      activeDays++;
      if (recent.dayDecay() < 1) updateRecentLayer(channel, slot, weight, recent, longRow, recentRow);
      addCell(cellIndex(channel, FIRST_ENGAGEMENT, slot), weight);
    }
  }

  // ---- serde: varints, cells as (index delta, 16-bit grid code) in index order ----------------

  public byte[] encode() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(48 + cellCount * 4 + recentCount * 8);
    varint(out, refMs);
    varint(out, zigzag(refMs - firstSeenMs));
    varint(out, events);
    varint(out, activeDays);
    varint(out, lastActiveDay + 1);
    byte[] zone = timeZone == null ? new byte[0] : timeZone.getBytes(StandardCharsets.UTF_8);
    varint(out, zone.length);
    out.write(zone, 0, zone.length);
    varint(out, lastEngagedSlot + 1);
    if (lastEngagedSlot >= 0) varint(out, zigzag(refMs - lastEngagedMs));
    varint(out, zigzag(recentLogOddsMilli));
    int[] order = Arrays.copyOf(cellIndex, cellCount);
    Arrays.sort(order);
    varint(out, cellCount);
    int previous = 0;
    for (int index : order) {
      varint(out, index - previous);
      int code = code(cellValue[find(index)]);
      out.write(code >>> 8);
      out.write(code & 0xff);
      previous = index;
    }
    varint(out, recentCount);
    for (int i = 0; i < recentCount; i++) {
      int hash = recentHash[i];
      out.write(hash >>> 24);
      out.write(hash >>> 16);
      out.write(hash >>> 8);
      out.write(hash);
      varint(out, recentSecond[i]);
    }
    return out.toByteArray();
  }

  public static RecipientCounters decode(byte[] bytes) {
    Reader in = new Reader(bytes);
    RecipientCounters c = new RecipientCounters();
    c.refMs = in.varint();
    c.firstSeenMs = c.refMs - unzigzag(in.varint());
    c.events = (int) in.varint();
    c.activeDays = (int) in.varint();
    c.lastActiveDay = in.varint() - 1;
    int zoneLength = (int) in.varint();
    c.timeZone = zoneLength == 0 ? null : new String(bytes, in.take(zoneLength), zoneLength, StandardCharsets.UTF_8);
    c.lastEngagedSlot = (int) in.varint() - 1;
    if (c.lastEngagedSlot >= 0) c.lastEngagedMs = c.refMs - unzigzag(in.varint());
    c.recentLogOddsMilli = unzigzag(in.varint());
    int cells = (int) in.varint();
    c.cellIndex = new int[Math.max(4, cells + 2)];
    c.cellValue = new double[c.cellIndex.length];
    int index = 0;
    for (int i = 0; i < cells; i++) {
      index += (int) in.varint();
      int at = in.take(2);
      c.cellIndex[i] = index;
      c.cellValue[i] = valueOf(((bytes[at] & 0xff) << 8) | (bytes[at + 1] & 0xff));
    }
    c.cellCount = cells;
    int recent = (int) in.varint();
    c.recentHash = new int[Math.max(4, recent + 1)];
    c.recentSecond = new long[c.recentHash.length];
    for (int i = 0; i < recent; i++) {
      int at = in.take(4);
      c.recentHash[i] = ((bytes[at] & 0xff) << 24) | ((bytes[at + 1] & 0xff) << 16) | ((bytes[at + 2] & 0xff) << 8) | (bytes[at + 3] & 0xff);
      c.recentSecond[i] = in.varint();
    }
    c.recentCount = recent;
    return c;
  }

  /** The counters as one JSON object (cells by index, values as stored), for the bench's comparison. */
  public String toJson(String recipientId) {
    StringBuilder json = new StringBuilder(64 + cellCount * 24);
    json.append("{\"recipientId\":\"").append(recipientId).append("\",\"events\":").append(events)
        .append(",\"activeDays\":").append(activeDays).append(",\"refMs\":").append(refMs)
        .append(",\"timeZone\":").append(timeZone == null ? "null" : "\"" + timeZone + "\"")
        .append(",\"recentLogOdds\":").append(recentLogOddsMilli / 1000d).append(",\"cells\":{");
    for (int i = 0; i < cellCount; i++) {
      if (i > 0) json.append(',');
      json.append('"').append(cellIndex[i]).append("\":").append(cellValue[i]);
    }
    return json.append("}}").toString();
  }

  private static long zigzag(long value) {
    return value >= 0 ? value * 2 : -value * 2 - 1;
  }

  private static long unzigzag(long value) {
    return (value & 1) == 0 ? value >>> 1 : -((value + 1) >>> 1);
  }

  private static void varint(ByteArrayOutputStream out, long value) {
    while ((value & ~0x7fL) != 0) {
      out.write((int) ((value & 0x7f) | 0x80));
      value >>>= 7;
    }
    out.write((int) value);
  }

  private static final class Reader {
    private final byte[] bytes;
    private int at;

    Reader(byte[] bytes) {
      this.bytes = bytes;
    }

    long varint() {
      long value = 0;
      int shift = 0;
      for (;;) {
        byte b = bytes[at++];
        value |= (long) (b & 0x7f) << shift;
        if (b >= 0) return value;
        shift += 7;
      }
    }

    /** Skips `length` bytes; returns where they start. */
    int take(int length) {
      if (at + length > bytes.length) throw new IllegalArgumentException("counters truncated");
      int start = at;
      at += length;
      return start;
    }
  }
}
