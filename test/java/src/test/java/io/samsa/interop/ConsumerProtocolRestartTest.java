package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Run by test/interop's TestJavaConsumerProtocolRestart, which kills {@code samsa serve}
 * (kill -9) while two {@code group.protocol=consumer} consumers are in a group and restarts it
 * on the same address: the handshake is two files in $SAMSA_RESTART_DIR (this test writes
 * "ready" once the group is stable, the Go test writes "restarted"). The group's state comes
 * back from __consumer_offsets: the members keep their ids and epochs (nobody rejoins), every
 * record produced after the restart is consumed exactly once and nothing committed before is
 * consumed again. Skipped in the plain Java suite.
 */
class ConsumerProtocolRestartTest {

    private static List<String> produce(String topic, String tag, int n) throws Exception {
        List<String> values = new ArrayList<>();
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < n; i++) {
                String v = tag + "-" + i;
                p.send(new ProducerRecord<>(topic, i % 4, "k" + i, v));
                values.add(v);
            }
            p.flush();
        }
        return values;
    }

    private static void poll(List<KafkaConsumer<String, String>> cs, List<String> seen) {
        for (KafkaConsumer<String, String> c : cs) {
            var recs = c.poll(Duration.ofMillis(50));
            for (ConsumerRecord<String, String> r : recs) {
                seen.add(r.value());
            }
            if (!recs.isEmpty()) {
                c.commitSync();
            }
        }
    }

    private static ConsumerGroupDescription describe(String group) {
        try (Admin a = Samsa.admin()) {
            return a.describeConsumerGroups(List.of(group)).all().get().get(group);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static Map<String, Integer> epochs(ConsumerGroupDescription d) {
        Map<String, Integer> m = new TreeMap<>();
        for (MemberDescription md : d.members()) {
            m.put(md.consumerId(), md.memberEpoch().orElse(-1));
        }
        return m;
    }

    @Test
    void membersKeepTheirEpochsAcrossARestart() throws Exception {
        String dirEnv = System.getenv("SAMSA_RESTART_DIR");
        assumeTrue(dirEnv != null && !dirEnv.isEmpty(), "run by test/interop's TestJavaConsumerProtocolRestart");
        Path dir = Path.of(dirEnv);
        String topic = Samsa.unique("java-kip848-restart");
        String group = Samsa.unique("java-kip848-restart-g");
        Samsa.createTopic(topic, 4);
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        List<KafkaConsumer<String, String>> cs = new ArrayList<>();
        try {
            for (int i = 0; i < 2; i++) {
                KafkaConsumer<String, String> c = Samsa.consumer(group, Map.of(
                        ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false));
                c.subscribe(List.of(topic));
                cs.add(c);
            }
            List<String> before = produce(topic, "before", 40);
            assertTrue(Samsa.await(Duration.ofSeconds(60), () -> {
                poll(cs, seen);
                return new HashSet<>(seen).containsAll(before)
                        && cs.get(0).assignment().size() == 2 && cs.get(1).assignment().size() == 2;
            }), "the two consumers share the partitions and consume the first records");
            ConsumerGroupDescription d0 = describe(group);
            Map<String, Integer> epochsBefore = epochs(d0);
            assertEquals(2, epochsBefore.size());

            Files.writeString(dir.resolve("ready"), "ready");
            assertTrue(Samsa.await(Duration.ofSeconds(120), () -> {
                poll(cs, seen);
                return Files.exists(dir.resolve("restarted"));
            }), "the broker was restarted");
            int seenAtRestart = seen.size();

            List<String> after = produce(topic, "after", 40);
            assertTrue(Samsa.await(Duration.ofSeconds(90), () -> {
                poll(cs, seen);
                return new HashSet<>(seen).containsAll(after);
            }), "the records produced after the restart are consumed");
            List<String> since;
            synchronized (seen) {
                since = new ArrayList<>(seen.subList(seenAtRestart, seen.size()));
            }
            for (String v : since) {
                assertTrue(v.startsWith("after-"), "consumed again after the restart: " + v);
            }
            assertEquals(80, seen.size(), "every record consumed once");

            ConsumerGroupDescription d1 = describe(group);
            assertEquals(epochsBefore, epochs(d1), "members and epochs after the restart (a rejoin changes them)");
        } finally {
            for (KafkaConsumer<String, String> c : cs) {
                c.close();
            }
        }
    }
}
