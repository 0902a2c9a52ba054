"""kafka-python (Debian's python3-kafka 2.0.x) against a Samsa broker.

Usage: kafka_python_interop.py BOOTSTRAP TOPIC GROUP
Creates TOPIC (3 partitions) with the admin client, produces 100 gzip-compressed keyed
messages with acks=all, consumes them back in consumer group GROUP, commits, and prints one
JSON object with what it saw. The Go test (test/interop/kafkapython_test.go) checks it.
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}

admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kafka-python-interop")
admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                              topic_configs={"retention.ms": "3600000"})])
configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
out["retention_ms"] = None
for resp in configs:
    for res in resp.resources:
        for entry in res[4]:
            if entry[0] == "retention.ms":
                out["retention_ms"] = entry[1]
out["topics"] = sorted(admin.list_topics())
admin.close()

producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip",
                         linger_ms=5)
futures = [producer.send(topic, key=b"k%d" % i, value=b"value-%d" % i) for i in range(100)]
producer.flush()
out["acked"] = [[f.get(timeout=30).partition, f.get(timeout=30).offset] for f in futures]
producer.close()

consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         consumer_timeout_ms=15000)
seen = []
for msg in consumer:
    seen.append([msg.partition, msg.offset, msg.key.decode(), msg.value.decode()])
    if len(seen) == 100:
        break
consumer.commit()
out["consumed"] = seen
out["committed"] = {str(p): consumer.committed(TopicPartition(topic, p)) for p in range(3)}
consumer.close()
print(json.dumps(out))
