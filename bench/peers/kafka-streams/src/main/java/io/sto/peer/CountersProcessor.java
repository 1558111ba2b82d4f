package io.sto.peer;

import java.time.Instant;
import java.time.ZoneId;
import java.time.zone.ZoneRules;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The engine's per-event ingest (services/engine/recipient-state.ts applyEngagement) as a Kafka
 * Streams processor: the signal of the event (machine opens apart), the look-back and future
 * bounds against the record timestamp, event-id deduplication, the recipient's zone to the local
 * hour-of-week slot, the decayed counters and the recent layer with its predictive record; one get
 * and one put of the recipient per record.
 */
public final class CountersProcessor implements Processor<String, byte[], Void, Void> {
  private static final long DAY_MS = 86_400_000L;
  private static final long HOUR_MS = 3_600_000L;
  // The engine's defaults (services/engine/config.ts); the bench sets the look-back to 365 days.
  private static final Pattern MACHINE_USER_AGENT = Pattern.compile(
      "AppleMailPrivacy|Apple-Mail-Proxy|GoogleImageProxy-Prefetch|YahooMailProxy|Barracuda|Mimecast|Proofpoint|bot\\b|crawler|prefetch", Pattern.CASE_INSENSITIVE);
  private static final double HALF_LIFE_DAYS = 365;
  private static final long MAX_FUTURE_MS = 60 * 60_000L;
  private static final long DEDUP_WINDOW_MS = 48 * HOUR_MS;
  private static final int DEDUP_MAX_IDS = 64;
  private static final long MACHINE_OPEN_MS = 10_000L;
  private static final String DEFAULT_ZONE = "UTC";
  // The engine's recent layer (services/model/score.ts DEFAULT_MODEL_PARAMS).
  private static final RecipientCounters.RecentLayer RECENT_LAYER = new RecipientCounters.RecentLayer(0.9, 4, 1, 4);

  private final String registryUrl;
  private final String storeName;
  private final long lookBackMs;
  private final Progress progress;
  private final Map<String, ZoneRules> zones = new HashMap<>();
  // Scratch rows for the recent layer's prediction, reused from record to record (one task, one thread).
  private final double[] longRow = new double[RecipientCounters.HOURS_PER_WEEK];
  private final double[] recentRow = new double[RecipientCounters.HOURS_PER_WEEK];
  private RegistryAvroDecoder decoder;
  private KeyValueStore<String, RecipientCounters> store;

  public CountersProcessor(String registryUrl, String storeName, long lookBackMs, Progress progress) {
    this.registryUrl = registryUrl;
    this.storeName = storeName;
    this.lookBackMs = lookBackMs;
    this.progress = progress;
  }

  @Override
  public void init(ProcessorContext<Void, Void> context) {
    store = context.getStateStore(storeName);
    decoder = new RegistryAvroDecoder(registryUrl);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    progress.record();
    GenericRecord event = decoder.decode(record.value());
    int signal = signalOf(event);
    if (signal < 0) return;
    int channel = channelOf(event.get("channel").toString());
    if (channel < 0) return;
    long occurredAt = (Long) event.get("occurredAt");
    long timestamp = record.timestamp();
    if (occurredAt < timestamp - lookBackMs || occurredAt > timestamp + MAX_FUTURE_MS) return;
    String recipientId = event.get("recipientId").toString();
    RecipientCounters counters = store.get(recipientId);
    if (counters == null) counters = new RecipientCounters();
    Object eventZone = event.get("timeZone");
    String zone = eventZone != null ? eventZone.toString() : counters.timeZone != null ? counters.timeZone : DEFAULT_ZONE;
    ZoneRules rules = zones.computeIfAbsent(zone, name -> ZoneId.of(name).getRules());
    if (counters.seenOrRecord(event.get("eventId").toString(), occurredAt, DEDUP_WINDOW_MS, DEDUP_MAX_IDS)) return;
    long wallMs = occurredAt + rules.getOffset(Instant.ofEpochMilli(occurredAt)).getTotalSeconds() * 1000L;
    long localDay = Math.floorDiv(wallMs, DAY_MS);
    int hourOfWeek = (int) Math.floorMod(localDay + 3, 7) * 24 + (int) ((wallMs - localDay * DAY_MS) / HOUR_MS);
    counters.apply(channel, signal, hourOfWeek, localDay, occurredAt, HALF_LIFE_DAYS, RECENT_LAYER, longRow, recentRow);
    if (eventZone != null) counters.timeZone = zone;
    store.put(recipientId, counters);
  }

  private static int channelOf(String channel) {
    for (int i = 0; i < RecipientCounters.CHANNELS.length; i++) if (RecipientCounters.CHANNELS[i].equals(channel)) return i;
    return -1;
  }

  /** The counted signal (index in RecipientCounters.SIGNALS), or -1 for a type without counters. */
  private static int signalOf(GenericRecord event) {
    switch (event.get("eventType").toString()) {
      case "SEND":
        return 0;
      case "OPEN":
        return isMachineOpen(event) ? 2 : 1;
      case "CLICK":
        return 3;
      case "CONVERSION":
        return 4;
      case "SESSION":
        return 5;
      default:
        return -1;
    }
  }

  /** Apple Mail Privacy Protection and proxies open mail on delivery, without a person. */
  private static boolean isMachineOpen(GenericRecord event) {
    Object flag = event.get("machineOpen");
    if (flag != null) return (Boolean) flag;
    Object userAgent = event.get("userAgent");
    if (userAgent != null && MACHINE_USER_AGENT.matcher(userAgent.toString()).find()) return true;
    Object deliveredAt = event.get("deliveredAt");
    if (deliveredAt == null) return false;
    long sinceDelivery = (Long) event.get("occurredAt") - (Long) deliveredAt;
    return sinceDelivery >= 0 && sinceDelivery <= MACHINE_OPEN_MS;
  }
}
