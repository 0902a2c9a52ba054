// Kafka 4.1.1's Admin client resetting a share group's start offsets, for the javaops suite:
// what `kafka-share-groups --reset-offsets --to-earliest --execute` does in later Kafka
// releases (4.1.1's tool answers "--reset-offsets option is not yet implemented"). Run with
// the JDK's source launcher:
//   java -cp <Kafka's classpath> ShareOffsets.java BOOTSTRAP GROUP TOPIC
//
// It lists the earliest offset of every partition of TOPIC (ListOffsets), sets the group's
// share-partition start offsets to them (Admin.alterShareGroupOffsets: AlterShareGroupOffsets
// to the group's coordinator) and prints one line per partition:
//   R <partition> <offset>
// Any failure is an exception: the exit status is not 0.

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

public class ShareOffsets {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2];
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
            for (TopicPartitionInfo info : d.partitions()) {
                specs.put(new TopicPartition(topic, info.partition()), OffsetSpec.earliest());
            }
            Map<TopicPartition, ListOffsetsResultInfo> earliest = admin.listOffsets(specs).all().get();
            Map<TopicPartition, Long> offsets = new HashMap<>();
            earliest.forEach((tp, info) -> offsets.put(tp, info.offset()));
            admin.alterShareGroupOffsets(group, offsets).all().get();
            offsets.entrySet().stream()
                .sorted(Map.Entry.comparingByKey((a, b) -> Integer.compare(a.partition(), b.partition())))
                .forEach(e -> System.out.println("R " + e.getKey().partition() + " " + e.getValue()));
        }
    }
}
