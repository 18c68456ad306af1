package dev.loyaltyledger.peer.kstreams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

/** The Kafka Streams peer of loyalty-bench: flags, configuration, lifecycle. */
public final class Main {
  private static final String USAGE = String.join("\n",
      "usage: loyalty-kstreams-peer --brokers=HOST:PORT --input=TOPIC --output=TOPIC",
      "           --app-id=ID --state-dir=DIR --program=FILE|DIR [options]",
      "",
      "A Kafka Streams application (exactly_once_v2, a persistent RocksDB store) that",
      "applies the purchase base earn and category multipliers of the program(s) to",
      "binary loyalty.v1.Event records and emits one record per input record:",
      "\"<member_id> <balance>\" for a purchase it applied, \"-\" for anything else.",
      "",
      "  --brokers=LIST            bootstrap servers (required)",
      "  --input=TOPIC             input topic, must exist (required)",
      "  --output=TOPIC            output topic, created like the input if missing (required)",
      "  --app-id=ID               application.id: consumer group, internal topics (required)",
      "  --state-dir=DIR           state.dir of the RocksDB stores (required)",
      "  --program=PATH            a program textproto, or a directory of *.textproto (required)",
      "  --threads=N               num.stream.threads (default 2)",
      "  --commit-interval-ms=N    commit.interval.ms, the transaction length (default 100)",
      "  --cache-bytes=N           statestore.cache.max.bytes, all threads (default 67108864)",
      "  --instance-id=ID          group.instance.id: static membership, for fast restarts",
      "                            of a single instance (default: dynamic membership)",
      "  --set=KEY=VALUE           any other Streams/client property (repeatable, applied last)",
      "  --help                    this text",
      "",
      "Prints \"kstreams-peer: RUNNING\" on stderr once it processes; SIGTERM closes it cleanly.");

  private Main() {}

  public static void main(String[] args) {
    Map<String, String> flags = new LinkedHashMap<>();
    List<String> sets = new ArrayList<>();
    for (String a : args) {
      if (a.equals("--help") || a.equals("-h")) {
        System.out.println(USAGE);
        return;
      }
      int eq = a.indexOf('=');
      if (!a.startsWith("--") || eq < 0) usage("bad argument '" + a + "'");
      String name = a.substring(2, eq);
      String value = a.substring(eq + 1);
      if (name.equals("set")) {
        if (value.indexOf('=') <= 0) usage("--set wants KEY=VALUE, got '" + value + "'");
        sets.add(value);
        continue;
      }
      if (!Set.of("brokers", "input", "output", "app-id", "state-dir", "program", "threads",
          "commit-interval-ms", "cache-bytes", "instance-id").contains(name)) {
        usage("unknown flag --" + name);
      }
      flags.put(name, value);
    }
    for (String required : List.of("brokers", "input", "output", "app-id", "state-dir", "program")) {
      if (flags.getOrDefault(required, "").isEmpty()) usage("--" + required + " is required");
    }
    int threads = intFlag(flags, "threads", 2);
    long commitMs = intFlag(flags, "commit-interval-ms", 100);
    long cacheBytes = intFlag(flags, "cache-bytes", 64L << 20);

    Map<String, Earn> programs;
    try {
      programs = Earn.load(Path.of(flags.get("program")));
    } catch (Exception ex) {
      fail("cannot load --program: " + ex);
      return;
    }

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, flags.get("app-id"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, flags.get("brokers"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
    props.put(StreamsConfig.STATE_DIR_CONFIG, flags.get("state-dir"));
    // The record cache in front of the RocksDB stores: a key updated several
    // times between two commits is written to RocksDB and its changelog once.
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);
    // Producer: batch per partition for a few ms (a commit flushes anyway).
    props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 256 * 1024);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "none");
    // Consumer: larger polls for catch-up; answer fetches as soon as data is there.
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 5000);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MIN_BYTES_CONFIG), 1);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG), 4 << 20);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Restarts: a clean close leaves the group (Streams' default does not, so
    // a restarted instance would wait out the old member's session), and a
    // killed instance is noticed after 10 s instead of 45 s.
    props.put(StreamsConfig.consumerPrefix("internal.leave.group.on.close"), true);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10_000);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 3_000);
    if (flags.containsKey("instance-id")) {
      // Static membership: a restart with the same id takes its partitions
      // back at once, without waiting for a session timeout or a rebalance.
      props.put(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), flags.get("instance-id"));
    }
    for (String kv : sets) {
      int eq = kv.indexOf('=');
      props.put(kv.substring(0, eq), kv.substring(eq + 1));
    }

    String input = flags.get("input");
    String output = flags.get("output");
    ensureTopics(flags.get("brokers"), input, output);

    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(EarnProcessor.STORE), Serdes.String(), Serdes.Long())
        .withCachingEnabled());
    builder.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .process(() -> new EarnProcessor(programs), EarnProcessor.STORE)
        .to(output, Produced.with(Serdes.ByteArray(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    AtomicInteger exitCode = new AtomicInteger(0);
    long started = System.nanoTime();
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING && before != KafkaStreams.State.RUNNING) {
        System.err.printf("kstreams-peer: RUNNING (app-id %s, %s -> %s, programs %s, %d threads)%n",
            flags.get("app-id"), input, output, programs.keySet(), threads);
      }
      if (now == KafkaStreams.State.ERROR) {
        exitCode.set(1);
        stopped.countDown();
      }
      if (now == KafkaStreams.State.NOT_RUNNING) stopped.countDown();
    });
    streams.setUncaughtExceptionHandler(ex -> {
      System.err.println("kstreams-peer: fatal: " + ex);
      exitCode.set(1);
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    AtomicBoolean closed = new AtomicBoolean(false);
    Runnable close = () -> {
      if (closed.getAndSet(true)) return;
      streams.close(Duration.ofSeconds(30));
      double seconds = (System.nanoTime() - started) / 1e9;
      System.err.printf("kstreams-peer: stopped after %.1f s, %s%n", seconds, EarnProcessor.stats());
    };
    // SIGTERM/SIGINT: close the streams (commits or aborts the open
    // transactions, flushes the stores) before the JVM exits.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      close.run();
      stopped.countDown();
    }, "kstreams-peer-shutdown"));

    streams.start();
    try {
      stopped.await();
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
    }
    // Here only after a fatal error (a signal ends the JVM in the hook).
    close.run();
    System.exit(exitCode.get());
  }

  /** The input must exist; the output is created with the input's partition count if missing. */
  private static void ensureTopics(String brokers, String input, String output) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(p)) {
      TopicDescription in;
      try {
        in = admin.describeTopics(List.of(input)).allTopicNames().get(30, TimeUnit.SECONDS).get(input);
      } catch (ExecutionException ex) {
        if (ex.getCause() instanceof UnknownTopicOrPartitionException) {
          fail("input topic '" + input + "' does not exist");
        }
        throw ex;
      }
      try {
        admin.describeTopics(List.of(output)).allTopicNames().get(30, TimeUnit.SECONDS);
        return;
      } catch (ExecutionException ex) {
        if (!(ex.getCause() instanceof UnknownTopicOrPartitionException)) throw ex;
      }
      NewTopic topic = new NewTopic(output, Optional.of(in.partitions().size()), Optional.empty());
      try {
        admin.createTopics(Collections.singleton(topic)).all().get(30, TimeUnit.SECONDS);
        System.err.printf("kstreams-peer: created output topic %s (%d partitions)%n", output,
            in.partitions().size());
      } catch (ExecutionException ex) {
        if (!(ex.getCause() instanceof TopicExistsException)) throw ex;
      }
    } catch (Exception ex) {
      fail("cannot check the topics on " + brokers + ": " + ex);
    }
  }

  private static long intFlag(Map<String, String> flags, String name, long def) {
    String v = flags.get(name);
    if (v == null) return def;
    try {
      long n = Long.parseLong(v);
      if (n < 1) usage("--" + name + " must be >= 1");
      return n;
    } catch (NumberFormatException ex) {
      usage("--" + name + " wants a number, got '" + v + "'");
      return def;
    }
  }

  private static int intFlag(Map<String, String> flags, String name, int def) {
    long n = intFlag(flags, name, (long) def);
    if (n > Integer.MAX_VALUE) usage("--" + name + " is too large");
    return (int) n;
  }

  private static void usage(String message) {
    System.err.println("kstreams-peer: " + message + " (see --help)");
    System.exit(2);
  }

  private static void fail(String message) {
    System.err.println("kstreams-peer: " + message);
    System.exit(1);
  }
}
