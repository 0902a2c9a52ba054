package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * KafkaConsumer with {@code group.protocol=consumer} (KIP-848): the broker assigns partitions
 * (server-side uniform assignor) through ConsumerGroupHeartbeat, incrementally.
 */
class ConsumerProtocolTest {

    private static final Map<String, Object> CONSUMER_PROTOCOL = Map.of(
            ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
            ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);

    private static void produce(String topic, int partitions, int perPartition, String tag) throws Exception {
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int part = 0; part < partitions; part++) {
                for (int i = 0; i < perPartition; i++) {
                    p.send(new ProducerRecord<>(topic, part, "k" + i, tag + "-p" + part + "-" + i));
                }
            }
            p.flush();
        }
    }

    /** One member of the group: counts every record it is given and what it had revoked. */
    private static final class Member implements ConsumerRebalanceListener {
        final KafkaConsumer<String, String> consumer;
        final AtomicInteger revoked = new AtomicInteger();

        Member(String group, String topic, Map<String, Object> extra) {
            Map<String, Object> cfg = new java.util.HashMap<>(CONSUMER_PROTOCOL);
            cfg.putAll(extra);
            consumer = Samsa.consumer(group, cfg);
            consumer.subscribe(List.of(topic), this);
        }

        /** Polls once, records what it got and commits it before the next poll. */
        void poll(List<String> seen) {
            var recs = consumer.poll(Duration.ofMillis(50));
            for (ConsumerRecord<String, String> r : recs) {
                seen.add(r.value());
            }
            if (!recs.isEmpty()) {
                consumer.commitSync();
            }
        }

        @Override public void onPartitionsRevoked(Collection<TopicPartition> parts) { revoked.addAndGet(parts.size()); }
        @Override public void onPartitionsAssigned(Collection<TopicPartition> parts) {}
    }

    private static boolean disjointCover(int total, List<Member> ms) {
        Set<TopicPartition> union = new HashSet<>();
        int n = 0;
        for (Member m : ms) {
            union.addAll(m.consumer.assignment());
            n += m.consumer.assignment().size();
        }
        return union.size() == total && n == total;
    }

    /**
     * Two, then three consumers share six partitions; every record is consumed exactly once
     * with synchronous commits; when one consumer leaves, its partitions move to the others
     * without them giving up any of theirs.
     */
    @Test
    void shareSixPartitionsIncrementally() throws Exception {
        String topic = Samsa.unique("java-kip848");
        String group = Samsa.unique("java-kip848-g");
        Samsa.createTopic(topic, 6);
        produce(topic, 6, 20, "a");
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        Member a = new Member(group, topic, Map.of());
        Member b = new Member(group, topic, Map.of());
        Member c = null;
        try {
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                a.poll(seen);
                b.poll(seen);
                return a.consumer.assignment().size() == 3 && b.consumer.assignment().size() == 3;
            }), "two consumers split six partitions 3/3, got " + a.consumer.assignment() + " / " + b.consumer.assignment());
            assertTrue(disjointCover(6, List.of(a, b)), "no partition assigned twice");

            Member c0 = new Member(group, topic, Map.of());
            c = c0;
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                a.poll(seen);
                b.poll(seen);
                c0.poll(seen);
                return a.consumer.assignment().size() == 2 && b.consumer.assignment().size() == 2
                        && c0.consumer.assignment().size() == 2;
            }), "three consumers split six partitions 2/2/2");
            assertTrue(disjointCover(6, List.of(a, b, c0)), "no partition assigned twice");
            assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                a.poll(seen);
                b.poll(seen);
                c0.poll(seen);
                return seen.size() >= 120;
            }), "every record consumed, saw " + seen.size());
            assertEquals(120, seen.size(), "no record consumed twice");
            assertEquals(120, new HashSet<>(seen).size(), "no record consumed twice");

            try (Admin admin = Samsa.admin()) {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                assertEquals(GroupType.CONSUMER, d.type());
                assertEquals(3, d.members().size());
                assertEquals("uniform", d.partitionAssignor());
                var listed = admin.listGroups(ListGroupsOptions.forConsumerGroups().withTypes(Set.of(GroupType.CONSUMER)))
                        .all().get();
                assertTrue(listed.stream().anyMatch(l -> l.groupId().equals(group)), "ListGroups types=consumer lists the group");
            }

            // c leaves: a and b take its two partitions without revoking any of theirs.
            int revokedA = a.revoked.get(), revokedB = b.revoked.get();
            Set<TopicPartition> keptA = new HashSet<>(a.consumer.assignment());
            Set<TopicPartition> keptB = new HashSet<>(b.consumer.assignment());
            c0.consumer.close();
            c = null;
            produce(topic, 6, 10, "b");
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                a.poll(seen);
                b.poll(seen);
                return a.consumer.assignment().size() == 3 && b.consumer.assignment().size() == 3;
            }), "the leaver's partitions move: got " + a.consumer.assignment() + " / " + b.consumer.assignment());
            assertTrue(a.consumer.assignment().containsAll(keptA) && b.consumer.assignment().containsAll(keptB),
                    "the remaining consumers keep their partitions");
            assertEquals(revokedA, a.revoked.get(), "nothing revoked from a");
            assertEquals(revokedB, b.revoked.get(), "nothing revoked from b");
            assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                a.poll(seen);
                b.poll(seen);
                return seen.size() >= 180;
            }), "the new records consumed, saw " + seen.size());
            assertEquals(180, new HashSet<>(seen).size());
            assertEquals(180, seen.size(), "no record consumed twice");
        } finally {
            a.consumer.close();
            b.consumer.close();
            if (c != null) {
                c.consumer.close();
            }
        }
        try (Admin admin = Samsa.admin()) {
            Map<TopicPartition, OffsetAndMetadata> offs =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            assertEquals(6, offs.size());
            offs.values().forEach(o -> assertEquals(30, o.offset()));
        }
    }

    /** A static member that restarts gets its own partitions back; the other member keeps its own. */
    @Test
    void staticMemberRejoins() throws Exception {
        String topic = Samsa.unique("java-kip848-static");
        String group = Samsa.unique("java-kip848-static-g");
        Samsa.createTopic(topic, 4);
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        Member b = new Member(group, topic, Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-b"));
        try {
            Set<TopicPartition> aParts;
            Member a = new Member(group, topic, Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a"));
            try {
                assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                    a.poll(seen);
                    b.poll(seen);
                    return a.consumer.assignment().size() == 2 && b.consumer.assignment().size() == 2;
                }), "two static members split four partitions");
                aParts = new HashSet<>(a.consumer.assignment());
            } finally {
                a.consumer.close(); // a static member's close is a temporary leave (epoch -2)
            }
            Set<TopicPartition> bParts = new HashSet<>(b.consumer.assignment());
            Member a2 = new Member(group, topic, Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-a"));
            try {
                assertTrue(Samsa.await(Duration.ofSeconds(30), () -> {
                    a2.poll(seen);
                    b.poll(seen);
                    return !a2.consumer.assignment().isEmpty();
                }), "restarted static member gets an assignment");
                assertEquals(aParts, a2.consumer.assignment(), "same partitions after the restart");
                assertEquals(bParts, b.consumer.assignment(), "the other member kept its partitions");
                try (Admin admin = Samsa.admin()) {
                    ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                    assertEquals(GroupState.STABLE, d.groupState());
                    Set<String> ids = new HashSet<>();
                    d.members().forEach(m -> ids.add(m.groupInstanceId().orElse("")));
                    assertEquals(Set.of("instance-a", "instance-b"), ids);
                }
            } finally {
                a2.consumer.close();
            }
        } finally {
            b.consumer.close();
        }
    }
}
