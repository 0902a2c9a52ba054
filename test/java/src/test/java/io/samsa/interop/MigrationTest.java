package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * Online migration between the classic and the consumer group protocols (KIP-848's upgrade and
 * downgrade, KIP-1099's mixed groups): a group of classic KafkaConsumers is rolled, one
 * consumer at a time, to {@code group.protocol=consumer}, and back, while records keep coming.
 * Every record is consumed (at least once: a consumer that leaves may have its last records
 * redelivered), the committed offsets reach the end of every partition, and the group is a
 * consumer group, then a classic group, with all its members, at the end.
 */
class MigrationTest {

    private static final int PARTITIONS = 4;

    /** One consumer of the group; it commits after every poll that returned records. */
    private static final class Member {
        final KafkaConsumer<String, String> consumer;
        final String protocol;

        Member(String group, String topic, String protocol) {
            this.protocol = protocol;
            Map<String, Object> cfg = new HashMap<>();
            cfg.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            cfg.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            if (protocol.equals("classic")) {
                cfg.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
                cfg.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000);
                cfg.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 30000);
            }
            consumer = Samsa.consumer(group, cfg);
            consumer.subscribe(List.of(topic));
        }

        void poll(List<String> seen) {
            var recs = consumer.poll(Duration.ofMillis(50));
            for (ConsumerRecord<String, String> r : recs) {
                seen.add(r.value());
            }
            if (!recs.isEmpty()) {
                consumer.commitSync();
            }
        }
    }

    private static List<String> produce(String topic, String tag, int n) throws Exception {
        List<String> values = new ArrayList<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < n; i++) {
                String v = tag + "-" + i;
                p.send(new ProducerRecord<>(topic, i % PARTITIONS, "k" + i, v));
                values.add(v);
            }
            p.flush();
        }
        return values;
    }

    /** Polls every member until every value of want has been seen. */
    private static void consumeAll(List<Member> ms, List<String> seen, List<String> want, String phase) throws Exception {
        assertTrue(Samsa.await(Duration.ofSeconds(90), () -> {
            for (Member m : ms) {
                m.poll(seen);
            }
            synchronized (seen) {
                return new HashSet<>(seen).containsAll(want);
            }
        }), phase + ": not every record consumed; missing " + missing(seen, want));
    }

    private static List<String> missing(List<String> seen, List<String> want) {
        Set<String> got;
        synchronized (seen) {
            got = new HashSet<>(seen);
        }
        List<String> out = new ArrayList<>();
        for (String w : want) {
            if (!got.contains(w)) {
                out.add(w);
            }
        }
        return out.size() > 10 ? out.subList(0, 10) : out;
    }

    /** Rolls the members one by one from protocol from to protocol to, checking delivery after each step. */
    private void roll(String from, String to, GroupType endType) throws Exception {
        String topic = Samsa.unique("java-migrate-" + from);
        String group = Samsa.unique("java-migrate-" + from + "-g");
        Samsa.createTopic(topic, PARTITIONS);
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        List<String> all = new ArrayList<>();
        List<Member> ms = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                ms.add(new Member(group, topic, from));
            }
            List<String> batch = produce(topic, "start", 40);
            all.addAll(batch);
            consumeAll(ms, seen, batch, "before the roll");
            for (int i = 0; i < 3; i++) {
                ms.remove(0).consumer.close();
                ms.add(new Member(group, topic, to));
                batch = produce(topic, "roll" + i, 40);
                all.addAll(batch);
                consumeAll(ms, seen, batch, "after rolling " + (i + 1) + " member(s) to " + to);
                if (i == 0) {
                    // A mixed group: one member on the new protocol, two on the old.
                    try (Admin admin = Samsa.admin()) {
                        assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                            for (Member m : ms) {
                                m.poll(seen);
                            }
                            ConsumerGroupDescription d = describe(admin, group);
                            return d.type() == GroupType.CONSUMER && d.members().size() == 3
                                    && d.members().stream().filter(x -> x.upgraded().orElse(false)).count() == (to.equals("consumer") ? 1 : 2);
                        }), "a mixed consumer group of 3 members, got " + describe(admin, group));
                    }
                }
            }
            // Every member ends up with partitions, none twice.
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                Set<TopicPartition> union = new HashSet<>();
                int n = 0;
                for (Member m : ms) {
                    m.poll(seen);
                    union.addAll(m.consumer.assignment());
                    n += m.consumer.assignment().size();
                }
                return union.size() == PARTITIONS && n == PARTITIONS;
            }), "the rolled members share the partitions");
            try (Admin admin = Samsa.admin()) {
                assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                    ConsumerGroupDescription d = describe(admin, group);
                    return d.type() == endType && d.members().size() == 3;
                }), "the group is a " + endType + " group of 3 at the end, got " + describe(admin, group));
            }
            for (Member m : ms) {
                m.consumer.commitSync();
            }
            try (Admin admin = Samsa.admin()) {
                Map<TopicPartition, OffsetAndMetadata> offs = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
                }
                var ends = admin.listOffsets(latest).all().get();
                for (var e : ends.entrySet()) {
                    assertEquals(e.getValue().offset(), offs.get(e.getKey()).offset(), "committed offset of " + e.getKey());
                }
            }
        } finally {
            for (Member m : ms) {
                m.consumer.close();
            }
        }
        Set<String> distinct = new HashSet<>(seen);
        assertTrue(distinct.containsAll(all), "every record consumed");
        assertEquals(all.size(), distinct.size(), "nothing consumed that was not produced");
        // At least once: only records in flight when a member left may come twice.
        assertTrue(seen.size() - distinct.size() <= 3 * 40, "duplicates " + (seen.size() - distinct.size()));
    }

    private static ConsumerGroupDescription describe(Admin admin, String group) {
        try {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    /** Classic consumers rolled to the consumer protocol: the group is upgraded online. */
    @Test
    void upgradeClassicToConsumer() throws Exception {
        roll("classic", "consumer", GroupType.CONSUMER);
    }

    /** Consumer-protocol consumers rolled back to classic: the group is downgraded online. */
    @Test
    void downgradeConsumerToClassic() throws Exception {
        roll("consumer", "classic", GroupType.CLASSIC);
    }
}
