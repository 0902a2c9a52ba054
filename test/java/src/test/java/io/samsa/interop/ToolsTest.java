package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * Kafka's own command-line tools (the kafka-tools jar: what kafka-topics.sh, kafka-consumer-groups.sh,
 * kafka-console-producer.sh and friends run) against Samsa, each as its own JVM as the scripts start it.
 */
class ToolsTest {

    record Result(int exit, String out) {}

    static Result tool(String mainClass, String stdin, String... args) throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>();
        cmd.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        cmd.add("-Xshare:auto");
        cmd.add("-cp");
        cmd.add(cp);
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Process p = pb.start();
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream o = p.getInputStream()) {
            o.transferTo(out);
        }
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(mainClass + " did not finish: " + out);
        }
        return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8));
    }

    static void ok(Result r, String what) {
        assertEquals(0, r.exit(), what + " exited " + r.exit() + ":\n" + r.out());
    }

    @Test
    void topicsProduceConsumeGroupsAndPerf() throws Exception {
        String bs = Samsa.bootstrap();
        String topic = Samsa.unique("java-tools");
        String group = Samsa.unique("java-tools-g");

        ok(tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", bs, "--create", "--topic", topic,
                "--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=7200000"), "kafka-topics --create");
        Result list = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", bs, "--list");
        ok(list, "kafka-topics --list");
        assertTrue(list.out().lines().anyMatch(topic::equals), list.out());
        Result desc = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", bs, "--describe", "--topic", topic);
        ok(desc, "kafka-topics --describe");
        assertTrue(desc.out().contains("PartitionCount: 2") && desc.out().contains("retention.ms=7200000"), desc.out());
        ok(tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", bs, "--alter", "--topic", topic,
                "--partitions", "3"), "kafka-topics --alter --partitions");

        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < 30; i++) lines.append("k").append(i).append(":line-").append(i).append('\n');
        ok(tool("org.apache.kafka.tools.ConsoleProducer", lines.toString(), "--bootstrap-server", bs, "--topic", topic,
                "--property", "parse.key=true", "--property", "key.separator=:"), "kafka-console-producer");

        Result consumed = tool("org.apache.kafka.tools.consumer.ConsoleConsumer", null, "--bootstrap-server", bs,
                "--topic", topic, "--from-beginning", "--max-messages", "30", "--group", group,
                "--property", "print.key=true", "--property", "key.separator=:", "--timeout-ms", "60000");
        ok(consumed, "kafka-console-consumer");
        for (int i = 0; i < 30; i++) {
            assertTrue(consumed.out().contains("k" + i + ":line-" + i + "\n"), "record " + i + " in\n" + consumed.out());
        }

        Result groups = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null, "--bootstrap-server", bs,
                "--describe", "--group", group);
        ok(groups, "kafka-consumer-groups --describe");
        assertTrue(groups.out().contains(topic), groups.out());

        Result dry = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null, "--bootstrap-server", bs,
                "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--dry-run");
        ok(dry, "kafka-consumer-groups --reset-offsets --dry-run");
        try (Admin a = Samsa.admin()) {
            long committed = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                    .values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            assertEquals(30, committed, "a dry run changes nothing");
        }
        ok(tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null, "--bootstrap-server", bs,
                "--reset-offsets", "--group", group, "--topic", topic, "--to-offset", "1", "--execute"), "reset --execute");
        try (Admin a = Samsa.admin()) {
            Map<TopicPartition, OffsetAndMetadata> offs = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            offs.values().forEach(o -> assertEquals(1, o.offset()));
            assertEquals(3, offs.size());
        }

        Result perf = tool("org.apache.kafka.tools.ProducerPerformance", null, "--topic", topic, "--num-records", "20000",
                "--record-size", "200", "--throughput", "-1", "--producer-props", "bootstrap.servers=" + bs, "acks=all");
        ok(perf, "kafka-producer-perf-test");
        assertTrue(perf.out().contains("20000 records sent"), perf.out());
        Result cperf = tool("org.apache.kafka.tools.ConsumerPerformance", null, "--bootstrap-server", bs, "--topic", topic,
                "--messages", "20000", "--timeout", "60000");
        ok(cperf, "kafka-consumer-perf-test");

        Result txns = tool("org.apache.kafka.tools.TransactionsCommand", null, "--bootstrap-server", bs, "list");
        ok(txns, "kafka-transactions list");
        assertTrue(txns.out().contains("TransactionalId"), txns.out());

        ok(tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", bs, "--delete", "--topic", topic), "kafka-topics --delete");
    }
}
