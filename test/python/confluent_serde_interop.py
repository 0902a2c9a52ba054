#!/usr/bin/python3
"""Confluent's Protobuf and JSON Schema serializers of confluent-kafka-python, driven by
test/interop/schema_formats_test.go.

  produce-protobuf BROKERS REGISTRY TOPIC FDP_BASE64 MESSAGE   (JSON lines on stdin)
  consume-protobuf BROKERS REGISTRY TOPIC FDP_BASE64 MESSAGE N (JSON lines on stdout)
  produce-json     BROKERS REGISTRY TOPIC SCHEMA_FILE          (JSON lines on stdin)
  consume-json     BROKERS REGISTRY TOPIC SCHEMA_FILE N        (JSON lines on stdout)

The Protobuf message class is built from a serialized FileDescriptorProto (what protoc would
generate code from), so no generated code is needed. Consumers read partition 0 from the
beginning until N records arrived.
"""
import base64
import json
import sys

from confluent_kafka import DeserializingConsumer, SerializingProducer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import StringDeserializer, StringSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def message_class(fdp_b64, name):
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(fdp_b64))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(name))


def produce(brokers, serializer, values):
    p = SerializingProducer({
        "bootstrap.servers": brokers,
        "key.serializer": StringSerializer("utf_8"),
        "value.serializer": serializer,
    })
    errors = []
    for i, v in enumerate(values):
        p.produce(TOPIC, key=str(i), value=v,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    p.flush(30)
    if errors or len(p) > 0:
        sys.exit("delivery failed: %s (%d not delivered)" % (errors, len(p)))


def consume(brokers, deserializer, n, render):
    c = DeserializingConsumer({
        "bootstrap.servers": brokers,
        "group.id": "serde-interop",
        "enable.auto.commit": False,
        "key.deserializer": StringDeserializer("utf_8"),
        "value.deserializer": deserializer,
    })
    c.assign([TopicPartition(TOPIC, 0, 0)])
    got = 0
    while got < n:
        msg = c.poll(30)
        if msg is None:
            sys.exit("timed out after %d of %d records" % (got, n))
        if msg.error():
            sys.exit("consume: %s" % msg.error())
        print(json.dumps(render(msg.value()), sort_keys=True), flush=True)
        got += 1
    c.close()


def main():
    global TOPIC
    cmd, brokers, registry, TOPIC = sys.argv[1:5]
    client = SchemaRegistryClient({"url": registry})
    if cmd == "produce-protobuf":
        cls = message_class(sys.argv[5], sys.argv[6])
        ser = ProtobufSerializer(cls, client, {"auto.register.schemas": True})
        produce(brokers, ser, [json_format.Parse(l, cls()) for l in sys.stdin if l.strip()])
    elif cmd == "consume-protobuf":
        cls = message_class(sys.argv[5], sys.argv[6])
        consume(brokers, ProtobufDeserializer(cls), int(sys.argv[7]),
                lambda m: json_format.MessageToDict(m))
    elif cmd == "produce-json":
        schema = open(sys.argv[5]).read()
        ser = JSONSerializer(schema, client, to_dict=lambda obj, ctx: obj)
        produce(brokers, ser, [json.loads(l) for l in sys.stdin if l.strip()])
    elif cmd == "consume-json":
        schema = open(sys.argv[5]).read()
        consume(brokers, JSONDeserializer(schema, from_dict=lambda d, ctx: d), int(sys.argv[6]),
                lambda v: v)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
