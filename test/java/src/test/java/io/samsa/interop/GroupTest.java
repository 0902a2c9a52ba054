package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** KafkaConsumer in a group with the classic protocol: cooperative-sticky, static membership, commits. */
class GroupTest {

    private static void produce(String topic, int partitions, int perPartition) throws Exception {
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int part = 0; part < partitions; part++) {
                for (int i = 0; i < perPartition; i++) {
                    p.send(new ProducerRecord<>(topic, part, "k" + i, "p" + part + "-" + i));
                }
            }
            p.flush();
        }
    }

    /** Two cooperative-sticky consumers split six partitions; the second's arrival revokes only what moves. */
    @Test
    void cooperativeStickyRebalance() throws Exception {
        String topic = Samsa.unique("java-coop");
        String group = Samsa.unique("java-coop-g");
        Samsa.createTopic(topic, 6);
        produce(topic, 6, 20);
        Map<String, Object> cfg = Map.of(
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName(),
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        Set<String> seen = ConcurrentHashMap.newKeySet();
        AtomicInteger revokedFromFirst = new AtomicInteger();
        try (KafkaConsumer<String, String> a = Samsa.consumer(group, cfg);
             KafkaConsumer<String, String> b = Samsa.consumer(group, cfg)) {
            a.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override public void onPartitionsRevoked(Collection<TopicPartition> parts) { revokedFromFirst.addAndGet(parts.size()); }
                @Override public void onPartitionsAssigned(Collection<TopicPartition> parts) {}
            });
            assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                a.poll(Duration.ofMillis(100)).forEach(r -> seen.add(r.value()));
                return a.assignment().size() == 6;
            }), "first consumer gets all six partitions");
            a.commitSync();
            b.subscribe(List.of(topic));
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                a.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.value()));
                b.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.value()));
                return a.assignment().size() == 3 && b.assignment().size() == 3;
            }), "the two consumers split the partitions 3/3, got " + a.assignment() + " / " + b.assignment());
            Set<TopicPartition> union = new HashSet<>(a.assignment());
            union.addAll(b.assignment());
            assertEquals(6, union.size(), "no partition assigned twice");
            assertEquals(3, revokedFromFirst.get(), "cooperative: only the three moving partitions are revoked");
            assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                a.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.value()));
                b.poll(Duration.ofMillis(50)).forEach(r -> seen.add(r.value()));
                return seen.size() == 120;
            }), "every record consumed, saw " + seen.size());
            a.commitSync();
            b.commitSync();
        }
        try (Admin admin = Samsa.admin()) {
            Map<TopicPartition, OffsetAndMetadata> offs =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            assertEquals(6, offs.size());
            offs.values().forEach(o -> assertEquals(20, o.offset()));
        }
    }

    /** A static member that restarts within the session timeout gets its partitions back without a new generation. */
    @Test
    void staticMembershipRejoin() throws Exception {
        String topic = Samsa.unique("java-static");
        String group = Samsa.unique("java-static-g");
        Samsa.createTopic(topic, 4);
        produce(topic, 4, 5);
        Map<String, Object> cfgA = Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000);
        Map<String, Object> cfgB = Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-b",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000);
        Set<TopicPartition> aParts;
        int generation;
        try (KafkaConsumer<String, String> b = Samsa.consumer(group, cfgB)) {
            b.subscribe(List.of(topic));
            try (KafkaConsumer<String, String> a = Samsa.consumer(group, cfgA)) {
                a.subscribe(List.of(topic));
                assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                    a.poll(Duration.ofMillis(50));
                    b.poll(Duration.ofMillis(50));
                    return a.assignment().size() == 2 && b.assignment().size() == 2;
                }), "two static members split four partitions");
                aParts = new HashSet<>(a.assignment());
                generation = a.groupMetadata().generationId();
            } // a closes: a static member's close does not leave the group
            try (KafkaConsumer<String, String> a2 = Samsa.consumer(group, cfgA)) {
                a2.subscribe(List.of(topic));
                assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                    a2.poll(Duration.ofMillis(50));
                    b.poll(Duration.ofMillis(50));
                    return !a2.assignment().isEmpty();
                }), "restarted static member gets an assignment");
                assertEquals(aParts, a2.assignment(), "same partitions after the restart");
                assertEquals(generation, a2.groupMetadata().generationId(), "no rebalance: same generation");
                try (Admin admin = Samsa.admin()) {
                    ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                    assertEquals(GroupState.STABLE, d.groupState());
                    assertEquals(2, d.members().size());
                    Set<String> ids = new HashSet<>();
                    d.members().forEach(m -> ids.add(m.groupInstanceId().orElse("")));
                    assertEquals(Set.of("instance-a", "instance-b"), ids);
                }
            }
        }
    }

    /** Committed offsets survive the consumer: a new consumer in the group resumes after them. */
    @Test
    void resumeFromCommitted() throws Exception {
        String topic = Samsa.unique("java-resume");
        String group = Samsa.unique("java-resume-g");
        Samsa.createTopic(topic, 1);
        produce(topic, 1, 10);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> c = Samsa.consumer(group, Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false))) {
            c.subscribe(List.of(topic));
            Samsa.await(Duration.ofSeconds(30), () -> { c.poll(Duration.ofMillis(100)); return !c.assignment().isEmpty(); });
            c.commitSync(Map.of(tp, new OffsetAndMetadata(7, "meta")));
        }
        try (KafkaConsumer<String, String> c = Samsa.consumer(group, Map.of())) {
            c.subscribe(List.of(topic));
            ConsumerRecord<String, String>[] first = new ConsumerRecord[1];
            assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    if (first[0] == null) first[0] = r;
                }
                return first[0] != null;
            }));
            assertEquals(7, first[0].offset());
            assertEquals("meta", c.committed(Set.of(tp)).get(tp).metadata());
        }
    }
}
