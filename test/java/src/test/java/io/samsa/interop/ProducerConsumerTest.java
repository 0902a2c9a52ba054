package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** KafkaProducer and KafkaConsumer: every codec, idempotence, transactions, timestamps. */
class ProducerConsumerTest {

    /** Every codec round trips keys (including null), values, headers and timestamps, in order, with dense offsets. */
    @ParameterizedTest
    @ValueSource(strings = {"none", "gzip", "snappy", "lz4", "zstd"})
    void everyCodecRoundTrips(String codec) throws Exception {
        String topic = Samsa.unique("java-codec-" + codec);
        Samsa.createTopic(topic, 1);
        long base = System.currentTimeMillis() - 60_000;
        int n = 500;
        List<RecordMetadata> acks = new ArrayList<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 5,
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.ACKS_CONFIG, "all"))) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String key = i % 5 == 4 ? null : "k" + (i % 17);
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, 0, base + i, key,
                        "value " + i + " " + "x".repeat(i % 50));
                if (i % 3 == 0) {
                    r.headers().add(new RecordHeader("h", ("hv" + i).getBytes(StandardCharsets.UTF_8)));
                    r.headers().add(new RecordHeader("empty", new byte[0]));
                }
                fs.add(p.send(r));
            }
            for (Future<RecordMetadata> f : fs) {
                acks.add(f.get());
            }
        }
        for (int i = 0; i < n; i++) {
            assertEquals(i, acks.get(i).offset(), "ack offset of record " + i);
        }
        List<ConsumerRecord<String, String>> got = Samsa.readAll(List.of(new TopicPartition(topic, 0)), n, Map.of());
        assertEquals(n, got.size(), "records read back");
        for (int i = 0; i < n; i++) {
            ConsumerRecord<String, String> r = got.get(i);
            assertEquals(i, r.offset());
            assertEquals(i % 5 == 4 ? null : "k" + (i % 17), r.key(), "key of " + i);
            assertEquals("value " + i + " " + "x".repeat(i % 50), r.value());
            assertEquals(base + i, r.timestamp());
            if (i % 3 == 0) {
                Header h = r.headers().lastHeader("h");
                assertNotNull(h, "header h of " + i);
                assertEquals("hv" + i, new String(h.value(), StandardCharsets.UTF_8));
                assertEquals(0, r.headers().lastHeader("empty").value().length);
            } else {
                assertNull(r.headers().lastHeader("h"));
            }
        }
    }

    /** offsetsForTimes finds the first record at or after a timestamp, and seek moves there. */
    @Test
    void seekByTimestamp() throws Exception {
        String topic = Samsa.unique("java-ts");
        Samsa.createTopic(topic, 1);
        long base = System.currentTimeMillis() - 100_000;
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < 100; i++) {
                p.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k", "v" + i));
            }
            p.flush();
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = Samsa.consumer(null, Map.of())) {
            c.assign(List.of(tp));
            Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(Map.of(tp, base + 41_500));
            assertEquals(42, found.get(tp).offset(), "first offset at or after the timestamp");
            assertEquals(base + 42_000, found.get(tp).timestamp());
            assertNull(c.offsetsForTimes(Map.of(tp, base + 1_000_000)).get(tp), "no record after the last timestamp");
            c.seek(tp, found.get(tp).offset());
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            Samsa.await(Duration.ofSeconds(30), () -> {
                c.poll(Duration.ofMillis(100)).forEach(got::add);
                return !got.isEmpty();
            });
            assertEquals("v42", got.get(0).value());
            assertEquals(100, c.endOffsets(List.of(tp)).get(tp));
            assertEquals(0, c.beginningOffsets(List.of(tp)).get(tp));
        }
    }

    /** A transaction that aborts is invisible to read_committed and visible to read_uncommitted; a committed one is visible to both. */
    @Test
    void transactionsCommitAndAbort() throws Exception {
        String topic = Samsa.unique("java-txn");
        Samsa.createTopic(topic, 2);
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, Samsa.unique("java-tid"),
                ProducerConfig.COMPRESSION_TYPE_CONFIG, "zstd"))) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, i % 2, "k" + i, "committed-" + i));
            }
            p.commitTransaction();
            p.beginTransaction();
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, i % 2, "k" + i, "aborted-" + i));
            }
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "last", "committed-last"));
            p.commitTransaction();
        }
        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        List<ConsumerRecord<String, String>> committed = Samsa.readAll(tps, 11,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"));
        assertEquals(11, committed.size());
        for (ConsumerRecord<String, String> r : committed) {
            assertTrue(r.value().startsWith("committed-"), "read_committed saw " + r.value());
        }
        List<ConsumerRecord<String, String>> all = Samsa.readAll(tps, 21,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted"));
        assertEquals(21, all.size(), "read_uncommitted sees the aborted records too");
        long aborted = all.stream().filter(r -> r.value().startsWith("aborted-")).count();
        assertEquals(10, aborted);
        // The end offsets count the three commit/abort markers as well: 21 records + 3 markers
        // over two partitions (partition 0 got markers for all three transactions).
        try (KafkaConsumer<String, String> c = Samsa.consumer(null, Map.of())) {
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            assertEquals(5 + 5 + 1 + 3, end.get(tps.get(0)));
            assertEquals(5 + 5 + 2, end.get(tps.get(1)));
        }
    }

    /** A second producer with the same transactional id fences the first. */
    @Test
    void transactionalFencing() throws Exception {
        String topic = Samsa.unique("java-fence");
        Samsa.createTopic(topic, 1);
        String tid = Samsa.unique("java-fence-tid");
        Map<String, Object> cfg = new HashMap<>();
        cfg.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, tid);
        try (KafkaProducer<String, String> first = Samsa.producer(cfg)) {
            first.initTransactions();
            first.beginTransaction();
            first.send(new ProducerRecord<>(topic, 0, "a", "from-first")).get();
            try (KafkaProducer<String, String> second = Samsa.producer(cfg)) {
                second.initTransactions(); // aborts first's open transaction and bumps the epoch
                second.beginTransaction();
                second.send(new ProducerRecord<>(topic, 0, "b", "from-second"));
                second.commitTransaction();
            }
            Exception err = null;
            try {
                first.commitTransaction();
            } catch (Exception e) {
                err = e;
            }
            assertNotNull(err, "the fenced producer's commit must fail");
            assertTrue(err.getClass().getSimpleName().contains("Fenced")
                            || String.valueOf(err.getMessage()).toLowerCase().contains("fenced")
                            || err.getClass().getSimpleName().contains("InvalidProducerEpoch"),
                    "fenced error, got " + err);
        }
        List<ConsumerRecord<String, String>> got = Samsa.readAll(List.of(new TopicPartition(topic, 0)), 1,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"));
        assertEquals(1, got.size());
        assertEquals("from-second", got.get(0).value());
    }
}
