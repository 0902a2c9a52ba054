package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.junit.jupiter.api.Test;

/** Kafka Streams with exactly_once_v2: repartition and changelog topics, transactions, static membership. */
class StreamsTest {

    private static Properties streamsProps(String app) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, Samsa.bootstrap());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("samsa-streams").toString());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), app + "-instance-1");
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        return p;
    }

    /**
     * Reads a topic with read_committed, keeping the last value per key, until that map equals want
     * (or 90 s pass), then two more seconds to catch anything past it (a duplicate would show as a
     * count above the expected one). Returns the map.
     */
    private static Map<String, Long> lastValues(String topic, Map<String, Long> want) throws Exception {
        Map<String, Long> last = new TreeMap<>();
        Properties p = Samsa.consumerProps(null);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, Long> c = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer())) {
            List<org.apache.kafka.common.TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(pi -> new org.apache.kafka.common.TopicPartition(topic, pi.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (System.nanoTime() < deadline && !last.equals(want)) {
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
                    last.put(r.key(), r.value());
                }
            }
            long quiet = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < quiet) {
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
                    last.put(r.key(), r.value());
                }
            }
        }
        return last;
    }

    @Test
    void wordCountExactlyOnce() throws Exception {
        String app = Samsa.unique("java-wc");
        String in = app + "-in", out = app + "-out";
        Samsa.createTopic(in, 3);
        Samsa.createTopic(out, 3);
        String[] lines = {
                "the quick brown fox", "jumps over the lazy dog", "the dog barks",
                "a fox and a dog", "quick quick quick", "over and over and over"};
        Map<String, Long> want = new TreeMap<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int rep = 0; rep < 20; rep++) {
                for (int i = 0; i < lines.length; i++) {
                    p.send(new ProducerRecord<>(in, "line-" + i, lines[i]));
                    for (String w : lines[i].split(" ")) want.merge(w, 1L, Long::sum);
                }
            }
            p.flush();
        }
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(v -> Arrays.asList(v.toLowerCase().split(" ")))
                .groupBy((k, w) -> w, Grouped.with("words", Serdes.String(), Serdes.String()))
                .count(Materialized.as("word-counts"))
                .toStream()
                .to(out, Produced.with(Serdes.String(), Serdes.Long()));
        try (KafkaStreams s = new KafkaStreams(b.build(), streamsProps(app))) {
            s.start();
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> s.state() == KafkaStreams.State.RUNNING), "streams running, state " + s.state());
            assertEquals(want, lastValues(out, want));
            try (Admin a = Samsa.admin()) {
                var names = a.listTopics().names().get();
                assertTrue(names.contains(app + "-words-repartition"), "repartition topic: " + names);
                assertTrue(names.contains(app + "-word-counts-changelog"), "changelog topic: " + names);
                var cfg = a.describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                        org.apache.kafka.common.config.ConfigResource.Type.TOPIC, app + "-word-counts-changelog")))
                        .all().get().values().iterator().next();
                assertEquals("compact", cfg.get("cleanup.policy").value());
            }
        }
    }

    @Test
    void windowedCountExactlyOnce() throws Exception {
        String app = Samsa.unique("java-win");
        String in = app + "-in", out = app + "-out";
        Samsa.createTopic(in, 2);
        Samsa.createTopic(out, 1);
        long base = (System.currentTimeMillis() / 10_000) * 10_000 - 120_000;
        Map<String, Long> want = new HashMap<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < 300; i++) {
                String key = "user-" + (i % 4);
                long ts = base + (i * 337L) % 60_000;
                p.send(new ProducerRecord<>(in, null, ts, key, "click"));
                long win = (ts / 10_000) * 10_000;
                want.merge(key + "@" + win, 1L, Long::sum);
            }
            p.flush();
        }
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofDays(1)))
                .count(Materialized.as("clicks"))
                .toStream((wk, v) -> wk.key() + "@" + wk.window().start())
                .to(out, Produced.with(Serdes.String(), Serdes.Long()));
        try (KafkaStreams s = new KafkaStreams(b.build(), streamsProps(app))) {
            s.start();
            assertEquals(new TreeMap<>(want), lastValues(out, new TreeMap<>(want)));
        }
    }
}
