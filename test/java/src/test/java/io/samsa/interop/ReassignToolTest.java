package io.samsa.interop;

import static io.samsa.interop.ToolsTest.ok;
import static io.samsa.interop.ToolsTest.tool;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;

/**
 * Kafka's kafka-reassign-partitions (ReassignPartitionsCommand of the kafka-tools jar) against
 * Samsa: --generate proposes a plan over the broker list, --execute starts it
 * (AlterPartitionReassignments) and --verify reports it complete (ListPartitionReassignments
 * and the replicas in Metadata). The broker under test is a single node, the only valid target
 * of its partitions, so the plan moves nothing; the cluster suite test/cluster/reassign moves
 * partitions between real brokers.
 */
class ReassignToolTest {
    private static final String TOOL = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand";

    @Test
    void generateExecuteVerify() throws Exception {
        String bs = Samsa.bootstrap();
        String topic = Samsa.unique("java-reassign");
        Samsa.createTopic(topic, 2);
        int id;
        try (Admin a = Samsa.admin()) {
            id = a.describeCluster().nodes().get().iterator().next().id();
        }
        Path dir = Files.createTempDirectory("reassign");
        Path topics = dir.resolve("topics.json");
        Files.writeString(topics, "{\"version\":1,\"topics\":[{\"topic\":\"" + topic + "\"}]}");
        ToolsTest.Result gen = tool(TOOL, null, "--bootstrap-server", bs, "--generate",
                "--topics-to-move-json-file", topics.toString(), "--broker-list", Integer.toString(id));
        ok(gen, "kafka-reassign-partitions --generate");
        assertTrue(gen.out().contains("Proposed partition reassignment configuration"), gen.out());

        Path plan = dir.resolve("plan.json");
        Files.writeString(plan, "{\"version\":1,\"partitions\":["
                + "{\"topic\":\"" + topic + "\",\"partition\":0,\"replicas\":[" + id + "]},"
                + "{\"topic\":\"" + topic + "\",\"partition\":1,\"replicas\":[" + id + "]}]}");
        ToolsTest.Result exec = tool(TOOL, null, "--bootstrap-server", bs, "--execute",
                "--reassignment-json-file", plan.toString());
        ok(exec, "kafka-reassign-partitions --execute");
        assertTrue(exec.out().contains("Successfully started partition reassignment"), exec.out());

        ToolsTest.Result verify = tool(TOOL, null, "--bootstrap-server", bs, "--verify",
                "--reassignment-json-file", plan.toString());
        ok(verify, "kafka-reassign-partitions --verify");
        assertTrue(verify.out().contains("Reassignment of partition " + topic + "-0 is completed"), verify.out());
        assertTrue(verify.out().contains("Reassignment of partition " + topic + "-1 is completed"), verify.out());
    }
}
