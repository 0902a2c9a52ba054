"""kafka-python or confluent-kafka-python over TLS and SASL against a Samsa broker.

Usage: security_interop.py JSON
JSON: {"client": "kafka-python"|"confluent", "bootstrap": ..., "topic": ..., "n": N,
       "protocol": "SASL_SSL"|"SSL", "mechanism": ..., "username": ..., "password": ...,
       "ca": CA_PEM_FILE, "cert": CLIENT_CERT_FILE, "key": CLIENT_KEY_FILE}
Produces N values "v-<i>" to partition 0 of TOPIC with acks=all, reads them back from the
start, and prints {"acked": N, "consumed": [values]}. The Go test
(test/interop/security_test.go) checks it.
"""
import json
import sys

cfg = json.loads(sys.argv[1])
n, topic = cfg["n"], cfg["topic"]
out = {}

if cfg["client"] == "kafka-python":
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    common = dict(bootstrap_servers=cfg["bootstrap"], security_protocol=cfg["protocol"],
                  ssl_cafile=cfg["ca"], ssl_check_hostname=True)
    if cfg.get("cert"):
        common.update(ssl_certfile=cfg["cert"], ssl_keyfile=cfg["key"])
    if cfg["protocol"].startswith("SASL"):
        common.update(sasl_mechanism=cfg["mechanism"], sasl_plain_username=cfg["username"],
                      sasl_plain_password=cfg["password"])
    producer = KafkaProducer(acks="all", **common)
    futures = [producer.send(topic, value=b"v-%d" % i, partition=0) for i in range(n)]
    producer.flush()
    out["acked"] = sum(1 for f in futures if f.get(timeout=30) is not None)
    producer.close()
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=20000, **common)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    seen = []
    for msg in consumer:
        seen.append(msg.value.decode())
        if len(seen) == n:
            break
    consumer.close()
    out["consumed"] = seen
else:
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    common = {"bootstrap.servers": cfg["bootstrap"], "security.protocol": cfg["protocol"],
              "ssl.ca.location": cfg["ca"]}
    if cfg.get("cert"):
        common.update({"ssl.certificate.location": cfg["cert"], "ssl.key.location": cfg["key"]})
    if cfg["protocol"].startswith("SASL"):
        common.update({"sasl.mechanisms": cfg["mechanism"], "sasl.username": cfg["username"],
                       "sasl.password": cfg["password"]})
    acked = []
    producer = Producer(dict(common, **{"acks": "all"}))
    for i in range(n):
        producer.produce(topic, value=b"v-%d" % i, partition=0,
                         on_delivery=lambda err, msg: acked.append(err is None))
    producer.flush(30)
    out["acked"] = sum(1 for a in acked if a)
    consumer = Consumer(dict(common, **{"group.id": "security-interop", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = []
    while len(seen) < n:
        msg = consumer.poll(20)
        if msg is None:
            break
        if msg.error():
            raise SystemExit("consume error: %s" % msg.error())
        seen.append(msg.value().decode())
    consumer.close()
    out["consumed"] = seen
print(json.dumps(out))
