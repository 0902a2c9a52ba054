package io.samsa.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;

/** The AdminClient calls Samsa serves, with their error cases. */
class AdminTest {

    @Test
    void topicsPartitionsAndErrors() throws Exception {
        String topic = Samsa.unique("java-admin");
        try (Admin a = Samsa.admin()) {
            CreateTopicsResult r = a.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete"))));
            r.all().get();
            assertEquals(3, r.numPartitions(topic).get());
            assertTrue(a.listTopics().names().get().contains(topic));

            ExecutionException dup = assertThrows(ExecutionException.class,
                    () -> a.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get());
            assertInstanceOf(TopicExistsException.class, dup.getCause());
            ExecutionException bad = assertThrows(ExecutionException.class,
                    () -> a.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all().get());
            assertInstanceOf(InvalidTopicException.class, bad.getCause());

            a.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
            TopicDescription d = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            assertEquals(5, d.partitions().size());
            assertFalse(d.topicId().toString().isEmpty());
            d.partitions().forEach(p -> {
                assertEquals(1, p.replicas().size());
                assertEquals(p.leader(), p.replicas().get(0));
                assertEquals(p.replicas(), p.isr());
            });
            ExecutionException shrink = assertThrows(ExecutionException.class,
                    () -> a.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get());
            assertInstanceOf(InvalidPartitionsException.class, shrink.getCause());

            a.deleteTopics(List.of(topic)).all().get();
            assertTrue(Samsa.await(Duration.ofSeconds(10), () -> {
                try {
                    return !a.listTopics().names().get().contains(topic);
                } catch (Exception e) {
                    return false;
                }
            }));
            ExecutionException gone = assertThrows(ExecutionException.class,
                    () -> a.describeTopics(List.of(topic)).allTopicNames().get());
            assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause());
        }
    }

    @Test
    void configs() throws Exception {
        String topic = Samsa.unique("java-configs");
        Samsa.createTopic(topic, 1);
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin a = Samsa.admin()) {
            Config before = a.describeConfigs(List.of(res)).all().get().get(res);
            ConfigEntry ret = before.get("retention.ms");
            assertEquals("604800000", ret.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, ret.source());

            a.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "1234567"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND)))).all().get();
            Config after = a.describeConfigs(List.of(res)).all().get().get(res);
            assertEquals("1234567", after.get("retention.ms").value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, after.get("retention.ms").source());
            assertEquals(Set.of("delete", "compact"), Set.of(after.get("cleanup.policy").value().split(",")));

            a.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all().get();
            assertEquals("604800000", a.describeConfigs(List.of(res)).all().get().get(res).get("retention.ms").value());

            ExecutionException unknown = assertThrows(ExecutionException.class, () -> a.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all().get());
            assertTrue(unknown.getCause().getClass().getSimpleName().contains("InvalidConfigurationException")
                    || unknown.getCause().getClass().getSimpleName().contains("InvalidRequestException"), unknown.getCause().toString());

            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, "1");
            DescribeClusterResult cluster = a.describeCluster();
            String id = String.valueOf(cluster.nodes().get().iterator().next().id());
            broker = new ConfigResource(ConfigResource.Type.BROKER, id);
            Config bc = a.describeConfigs(List.of(broker)).all().get().get(broker);
            assertTrue(bc.entries().size() > 10, "broker configs described");
        }
    }

    /** Admin.listConfigResources (ListConfigResources v1, KIP-1142): groups with config overrides, brokers, topics. */
    @Test
    void listConfigResources() throws Exception {
        String topic = Samsa.unique("java-lcr");
        String group = Samsa.unique("java-lcr-g");
        Samsa.createTopic(topic, 1);
        ConfigResource g = new ConfigResource(ConfigResource.Type.GROUP, group);
        try (Admin a = Samsa.admin()) {
            assertFalse(a.listConfigResources(Set.of(ConfigResource.Type.GROUP), new ListConfigResourcesOptions())
                    .all().get().contains(g), "a group without configs is not listed");
            a.incrementalAlterConfigs(Map.of(g, List.of(new AlterConfigOp(
                    new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET)))).all().get();
            Collection<ConfigResource> groups = a.listConfigResources(Set.of(ConfigResource.Type.GROUP),
                    new ListConfigResourcesOptions()).all().get();
            assertTrue(groups.contains(g), groups.toString());
            assertTrue(groups.stream().allMatch(r -> r.type() == ConfigResource.Type.GROUP), groups.toString());

            String id = String.valueOf(a.describeCluster().nodes().get().iterator().next().id());
            Collection<ConfigResource> all = a.listConfigResources().all().get();
            assertTrue(all.contains(g), all.toString());
            assertTrue(all.contains(new ConfigResource(ConfigResource.Type.TOPIC, topic)), all.toString());
            assertTrue(all.contains(new ConfigResource(ConfigResource.Type.BROKER, id)), all.toString());
            assertTrue(all.contains(new ConfigResource(ConfigResource.Type.BROKER_LOGGER, id)), all.toString());
            assertTrue(a.listConfigResources(Set.of(ConfigResource.Type.CLIENT_METRICS), new ListConfigResourcesOptions())
                    .all().get().isEmpty(), "no client-metrics resources");
        }
    }

    @Test
    void offsetsRecordsDeletionAndLogDirs() throws Exception {
        String topic = Samsa.unique("java-offsets");
        Samsa.createTopic(topic, 1);
        long base = System.currentTimeMillis() - 50_000;
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of())) {
            for (int i = 0; i < 50; i++) {
                p.send(new ProducerRecord<>(topic, 0, base + i * 1000L, "k", "v" + i));
            }
            p.flush();
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin a = Samsa.admin()) {
            ListOffsetsResult.ListOffsetsResultInfo latest = a.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get();
            assertEquals(50, latest.offset());
            assertEquals(0, a.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get().offset());
            assertEquals(10, a.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 9_500))).partitionResult(tp).get().offset());
            ListOffsetsResult.ListOffsetsResultInfo max = a.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get();
            assertEquals(49, max.offset());
            assertEquals(base + 49_000, max.timestamp());

            a.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(20))).all().get();
            assertEquals(20, a.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get().offset());

            int node = a.describeCluster().nodes().get().iterator().next().id();
            Map<String, LogDirDescription> dirs = a.describeLogDirs(List.of(node)).allDescriptions().get().get(node);
            assertFalse(dirs.isEmpty());
            boolean found = dirs.values().stream().anyMatch(d -> d.replicaInfos().containsKey(tp) && d.replicaInfos().get(tp).size() > 0);
            assertTrue(found, "log dirs list the partition with a size: " + dirs);
        }
    }

    @Test
    void clusterDescription() throws Exception {
        try (Admin a = Samsa.admin()) {
            DescribeClusterResult c = a.describeCluster();
            assertFalse(c.clusterId().get().isEmpty());
            assertEquals(1, c.nodes().get().size());
            assertEquals(c.nodes().get().iterator().next().id(), c.controller().get().id());
        }
    }

    @Test
    void groupsAndOffsets() throws Exception {
        String topic = Samsa.unique("java-admin-g");
        String group = Samsa.unique("java-admin-grp");
        Samsa.createTopic(topic, 2);
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        try (KafkaConsumer<String, String> c = Samsa.consumer(group, Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false))) {
            c.assign(List.of(p0, p1));
            c.commitSync(Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(4)));
        }
        try (Admin a = Samsa.admin()) {
            Collection<GroupListing> groups = a.listGroups().all().get();
            assertTrue(groups.stream().anyMatch(g -> g.groupId().equals(group)), "listed: " + groups);
            assertEquals(Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(4)),
                    a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get());
            a.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(1))).all().get();
            assertEquals(1, a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(p0).offset());
            a.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get();
            assertEquals(Set.of(p0), a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().keySet());
            a.deleteConsumerGroups(List.of(group)).all().get();
            assertFalse(a.listGroups().all().get().stream().anyMatch(g -> g.groupId().equals(group)));
        }
    }

    @Test
    void transactionsAndProducers() throws Exception {
        String topic = Samsa.unique("java-admin-txn");
        String tid = Samsa.unique("java-admin-tid");
        Samsa.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<String, String> p = Samsa.producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, tid));
             Admin a = Samsa.admin()) {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "v")).get();
            Collection<TransactionListing> listed = a.listTransactions().all().get();
            assertTrue(listed.stream().anyMatch(t -> t.transactionalId().equals(tid)), "listTransactions: " + listed);
            TransactionDescription td = a.describeTransactions(List.of(tid)).all().get().get(tid);
            assertEquals("ONGOING", td.state().name());
            assertEquals(Set.of(tp), td.topicPartitions());
            List<ProducerState> producers = a.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers();
            assertEquals(1, producers.size());
            assertTrue(producers.get(0).currentTransactionStartOffset().isPresent(), "open transaction start offset");
            p.commitTransaction();
            // EndTxn is answered once PREPARE_COMMIT is durable; the markers complete it afterwards.
            assertTrue(Samsa.await(Duration.ofSeconds(10), () -> {
                try {
                    return a.describeTransactions(List.of(tid)).all().get().get(tid).state().name().equals("COMPLETE_COMMIT");
                } catch (Exception e) {
                    return false;
                }
            }), "transaction reaches COMPLETE_COMMIT");
            assertTrue(a.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers().get(0)
                    .currentTransactionStartOffset().isEmpty(), "no open transaction after the commit marker");
        }
    }
}
