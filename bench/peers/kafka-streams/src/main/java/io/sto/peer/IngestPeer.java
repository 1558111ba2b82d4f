package io.sto.peer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of the engine's ingest. Reads the engagement topic from the beginning into
 * a persistent (RocksDB) store with a changelog, until `--records` records were processed; prints
 * one JSON line with the rate, then writes the counters of the recipients listed in `--sample` to
 * `--dump` (one JSON object per line) and exits.
 *
 *   java -cp target/classes:target/lib/* io.sto.peer.IngestPeer --bootstrap=host:port
 *     --registry=http://host:port/apis/ccompat/v7 --topic=T --application-id=A --guarantee=exactly_once_v2
 *     --state-dir=DIR --records=N [--look-back-days=365] [--sample=FILE --dump=FILE]
 */
public final class IngestPeer {
  static final String STORE = "recipients";

  public static void main(String[] args) throws Exception {
    Map<String, String> options = new HashMap<>();
    for (String arg : args) {
      int equals = arg.indexOf('=');
      if (!arg.startsWith("--") || equals < 0) throw new IllegalArgumentException("expected --name=value, got " + arg);
      options.put(arg.substring(2, equals), arg.substring(equals + 1));
    }
    String topic = required(options, "topic");
    String registry = required(options, "registry");
    long expected = Long.parseLong(required(options, "records"));
    long lookBackMs = Long.parseLong(options.getOrDefault("look-back-days", "730")) * 86_400_000L;
    long timeoutMs = Long.parseLong(options.getOrDefault("timeout-seconds", "3600")) * 1000L;

    Properties config = new Properties();
    config.put(StreamsConfig.APPLICATION_ID_CONFIG, required(options, "application-id"));
    config.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(options, "bootstrap"));
    config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, required(options, "guarantee"));
    config.put(StreamsConfig.STATE_DIR_CONFIG, required(options, "state-dir"));
    config.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(options.getOrDefault("threads", "1")));
    // The record cache coalesces a hot recipient's updates between commits (fewer RocksDB writes
    // and changelog records), as a production deployment would size it.
    config.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 64L * 1024 * 1024);
    config.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    config.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    Progress progress = new Progress();
    Serde<RecipientCounters> countersSerde = Serdes.serdeFrom(
        (Serializer<RecipientCounters>) (t, counters) -> counters == null ? null : counters.encode(),
        (Deserializer<RecipientCounters>) (t, bytes) -> bytes == null ? null : RecipientCounters.decode(bytes));
    StoreBuilder<KeyValueStore<String, RecipientCounters>> store = Stores
        .keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), countersSerde)
        .withCachingEnabled()
        .withLoggingEnabled(Map.of());
    Topology topology = new Topology()
        .addSource("engagement", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), topic)
        .addProcessor("counters", () -> new CountersProcessor(registry, STORE, lookBackMs, progress), "engagement")
        .addStateStore(store, "counters");

    KafkaStreams streams = new KafkaStreams(topology, config);
    streams.setUncaughtExceptionHandler(error -> {
      error.printStackTrace();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.start();
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (progress.records() < expected) {
      if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.NOT_RUNNING) {
        throw new IllegalStateException("Kafka Streams stopped (" + streams.state() + ") after " + progress.records() + " of " + expected + " records");
      }
      if (System.currentTimeMillis() > deadline) throw new IllegalStateException("processed " + progress.records() + " of " + expected + " records in " + timeoutMs + " ms");
      Thread.sleep(20);
    }
    double seconds = (progress.lastNanos() - progress.firstNanos()) / 1e9;
    double cpuSeconds = (Progress.processCpuNanos() - progress.firstCpuNanos()) / 1e9;
    System.out.println("{\"records\":" + progress.records() + ",\"seconds\":" + seconds + ",\"rate\":" + (progress.records() / seconds) + ",\"cpuSeconds\":" + cpuSeconds + "}");

    String sample = options.get("sample");
    if (sample != null) dump(streams, Path.of(sample), Path.of(required(options, "dump")), deadline);
    streams.close(Duration.ofSeconds(60));
    System.exit(0);
  }

  /** The sampled recipients' counters as the store holds them now (reads go through the cache). */
  private static void dump(KafkaStreams streams, Path sample, Path dump, long deadline) throws IOException, InterruptedException {
    ReadOnlyKeyValueStore<String, RecipientCounters> view = null;
    while (view == null) {
      try {
        view = streams.store(StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
      } catch (org.apache.kafka.streams.errors.InvalidStateStoreException notYet) {
        if (System.currentTimeMillis() > deadline) throw notYet;
        Thread.sleep(50);
      }
    }
    List<String> recipients = Files.readAllLines(sample, StandardCharsets.UTF_8);
    try (PrintStream out = new PrintStream(Files.newOutputStream(dump), false, StandardCharsets.UTF_8)) {
      for (String recipient : recipients) {
        if (recipient.isBlank()) continue;
        RecipientCounters counters = view.get(recipient);
        out.println(counters == null ? "{\"recipientId\":\"" + recipient + "\",\"missing\":true}" : counters.toJson(recipient));
      }
    }
  }

  private static String required(Map<String, String> options, String name) {
    String value = options.get(name);
    if (value == null || value.isBlank()) throw new IllegalArgumentException("--" + name + " is required");
    return value;
  }
}
