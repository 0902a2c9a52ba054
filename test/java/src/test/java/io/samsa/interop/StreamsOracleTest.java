package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
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

/**
 * The Kafka Streams apps of the Streams oracle (test/differential/streams_test.go), which runs
 * this class once against Apache Kafka and once against Samsa with the same input and compares
 * what each wrote: a word count and a windowed count (10 s tumbling windows), both with
 * exactly_once_v2 and no record cache, so that every input record yields exactly one output
 * update. Each app's output topic is read with read_committed and written to
 * $STREAMS_ORACLE_OUT/&lt;app&gt;.txt as one line per key: the key, then every value the key
 * took, in offset order. The input's timestamps start at $STREAMS_ORACLE_BASE (epoch ms), so
 * both runs see the same windows. Without STREAMS_ORACLE_OUT (the plain Java suite) the tests
 * are skipped.
 */
class StreamsOracleTest {

    private static Path outDir() {
        String out = System.getenv("STREAMS_ORACLE_OUT");
        assumeTrue(out != null && !out.isEmpty(), "run by test/differential/streams_test.go");
        return Path.of(out);
    }

    private static long base() {
        return Long.parseLong(System.getenv("STREAMS_ORACLE_BASE"));
    }

    private static Properties props(String app) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, Samsa.bootstrap());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("samsa-oracle").toString());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        return p;
    }

    /**
     * Reads topic with read_committed until the last value of every key equals want, then two
     * more seconds; returns every key's values in offset order.
     */
    private static Map<String, List<Long>> history(String topic, Map<String, Long> want) {
        Map<String, List<Long>> hist = new TreeMap<>();
        Map<String, Long> last = new TreeMap<>();
        Properties p = Samsa.consumerProps(null);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, Long> c = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer())) {
            List<TopicPartition> tps = c.partitionsFor(topic).stream()
                    .map(pi -> new TopicPartition(topic, pi.partition())).toList();
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            long quiet = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, quiet)) {
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
                    hist.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
                    last.put(r.key(), r.value());
                }
                if (quiet == Long.MAX_VALUE && last.equals(want)) {
                    quiet = System.nanoTime() + Duration.ofSeconds(2).toNanos();
                }
            }
        }
        return hist;
    }

    private static void write(Path dir, String name, Map<String, List<Long>> hist) throws Exception {
        StringBuilder b = new StringBuilder();
        hist.forEach((k, vs) -> {
            b.append(k).append('\t');
            for (int i = 0; i < vs.size(); i++) {
                b.append(i == 0 ? "" : ",").append(vs.get(i));
            }
            b.append('\n');
        });
        Files.writeString(dir.resolve(name + ".txt"), b.toString(), StandardCharsets.UTF_8);
    }

    private static Map<String, Long> finals(Map<String, List<Long>> hist) {
        Map<String, Long> out = new TreeMap<>();
        hist.forEach((k, vs) -> out.put(k, vs.get(vs.size() - 1)));
        return out;
    }

    @Test
    void wordCount() throws Exception {
        Path dir = outDir();
        String app = Samsa.unique("oracle-wc");
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
                    p.send(new ProducerRecord<>(in, null, base() + rep * 1000L + i, "line-" + i, lines[i]));
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
        Map<String, List<Long>> hist;
        try (KafkaStreams s = new KafkaStreams(b.build(), props(app))) {
            s.start();
            hist = history(out, want);
        }
        write(dir, "wordcount", hist);
        assertEquals(want, finals(hist));
    }

    @Test
    void windowedCount() throws Exception {
        Path dir = outDir();
        String app = Samsa.unique("oracle-win");
        String in = app + "-in", out = app + "-out";
        Samsa.createTopic(in, 2);
        Samsa.createTopic(out, 2);
        long base = base();
        Map<String, Long> want = new TreeMap<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < 300; i++) {
                String key = "user-" + (i % 4);
                long ts = base + (i * 337L) % 60_000;
                p.send(new ProducerRecord<>(in, null, ts, key, "click"));
                long win = Math.floorDiv(ts, 10_000L) * 10_000L;
                want.merge(key + "@" + (win - base), 1L, Long::sum);
            }
            p.flush();
        }
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofDays(1)))
                .count(Materialized.as("clicks"))
                .toStream((wk, v) -> wk.key() + "@" + (wk.window().start() - base))
                .to(out, Produced.with(Serdes.String(), Serdes.Long()));
        Map<String, List<Long>> hist;
        try (KafkaStreams s = new KafkaStreams(b.build(), props(app))) {
            s.start();
            hist = history(out, want);
        }
        write(dir, "windowed", hist);
        assertEquals(want, finals(hist));
    }
}
