"""librdkafka transactions (Debian's python3-confluent-kafka) against a Samsa broker.

Usage:
  confluent_txn_interop.py produce BOOTSTRAP TXNID IN OUT GROUP
      Consumes every record of IN (read_committed, group GROUP) and runs four transactions on
      OUT: "c1" (5 records, the consumed offsets sent, committed), "a1" (5 records, offsets
      sent, aborted), "c2" (5 records, committed, no offsets) and "a2" (5 records, aborted).
      Prints one JSON object: the group's consumed positions and what each transaction did.
  confluent_txn_interop.py read BOOTSTRAP TOPIC ISOLATION PARTITIONS
      Reads every partition of TOPIC from the start to its end (read_committed ends at the last
      stable offset) and prints the values as a JSON list.
  confluent_txn_interop.py hang BOOTSTRAP TXNID TOPIC
      Begins a transaction, produces 5 records ("hung-N"), flushes, prints "ready" and waits
      to be killed: a producer that dies in the middle of a transaction.
  confluent_txn_interop.py once BOOTSTRAP TXNID TOPIC PREFIX
      Initializes TXNID (fencing an older instance and aborting its transaction) and commits
      one transaction of 3 records PREFIX-N.
The Go test (test/interop/confluent_txn_test.go) checks the output.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def producer(bootstrap, txnid):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txnid,
                  "transaction.timeout.ms": 60000, "linger.ms": 5})
    p.init_transactions(30)
    return p


def txn(p, topic, prefix, n, commit, offsets=None, meta=None):
    p.begin_transaction()
    for i in range(n):
        p.produce(topic, value=("%s-%d" % (prefix, i)).encode())
    p.flush(30)
    if offsets is not None:
        p.send_offsets_to_transaction(offsets, meta, 30)
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def produce(bootstrap, txnid, src, dst, group):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    c.subscribe([src])
    eof, consumed, deadline = set(), 0, time.time() + 60
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                if len(eof) == len(c.assignment()) and c.assignment():
                    break
                continue
            raise KafkaException(m.error())
        consumed += 1
    positions = c.position(c.assignment())
    p = producer(bootstrap, txnid)
    meta = c.consumer_group_metadata()
    txn(p, dst, "c1", 5, True, positions, meta)
    txn(p, dst, "a1", 5, False, [TopicPartition(tp.topic, tp.partition, 0) for tp in positions], meta)
    txn(p, dst, "c2", 5, True)
    txn(p, dst, "a2", 5, False)
    c.close()
    print(json.dumps({"consumed": consumed,
                      "positions": {str(tp.partition): tp.offset for tp in positions}}))


def read(bootstrap, topic, isolation, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-%f" % time.time(),
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eof, deadline = [], set(), time.time() + 60
    while len(eof) < partitions and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        eof.discard(m.partition())
        out.append(m.value().decode())
    c.close()
    if len(eof) < partitions:
        sys.exit("did not reach the end of every partition")
    print(json.dumps(sorted(out)))


def hang(bootstrap, txnid, topic):
    p = producer(bootstrap, txnid)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=("hung-%d" % i).encode())
    p.flush(30)
    print("ready", flush=True)
    time.sleep(600)


def once(bootstrap, txnid, topic, prefix):
    txn(producer(bootstrap, txnid), topic, prefix, 3, True)
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        produce(*args)
    elif mode == "read":
        read(args[0], args[1], args[2], int(args[3]))
    elif mode == "hang":
        hang(*args)
    elif mode == "once":
        once(*args)
    else:
        sys.exit("unknown mode " + mode)
