"""A consume-transform-produce copy in librdkafka transactions (Debian's python3-confluent-kafka),
driven by test/cluster/eos.

Usage: copy.py BOOTSTRAP TXNID GROUP SRC DST NAME

Consumes SRC read_committed in group GROUP and copies every record to the same partition of
DST inside a transaction of transactional id TXNID that also commits the consumed offsets.
Each record carries the headers "txn" (NAME/attempt, one per transaction attempt) and "n"
(the attempt's record count), so a reader can tell a partial transaction. Runs until its
standard input closes. Prints, one line each:
  C TAG N                         a committed transaction
  A TAG                           an aborted one
  X NAME RETRIABLE FATAL ABORT    an error the client raised
  D                               done
"""
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

boot, txnid, group, src, dst, name = sys.argv[1:7]
stop = threading.Event()


def watch():
    sys.stdin.read()
    stop.set()


threading.Thread(target=watch, daemon=True).start()


def out(*a):
    print(*a, flush=True)


def consumer():
    c = Consumer({"bootstrap.servers": boot, "group.id": group, "isolation.level": "read_committed",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "client.id": name + "-consumer"})
    c.subscribe([src])
    return c


def note(e):
    err = e.args[0]
    out("X", err.name(), int(err.retriable()), int(err.fatal()), int(err.txn_requires_abort()))
    return err


def retrying(fn):
    """Calls fn until it succeeds, retrying retriable errors for up to two minutes."""
    deadline = time.time() + 120
    while True:
        try:
            return fn()
        except KafkaException as e:
            err = note(e)
            if err.retriable() and not err.txn_requires_abort() and time.time() < deadline:
                continue
            raise


p = Producer({"bootstrap.servers": boot, "transactional.id": txnid, "transaction.timeout.ms": 30000,
              "linger.ms": 5, "client.id": name + "-producer"})
retrying(lambda: p.init_transactions(30))
c = consumer()
attempt = 0
while not stop.is_set():
    msgs = []
    for m in c.consume(500, 0.5):
        if m.error():
            note(KafkaException(m.error()))
            continue
        msgs.append(m)
    if not msgs:
        continue
    attempt += 1
    tag = "%s/%d" % (name, attempt)
    try:
        p.begin_transaction()
        ends = {}
        for m in msgs:
            p.produce(dst, value=m.value(), partition=m.partition(),
                      headers=[("txn", tag.encode()), ("n", str(len(msgs)).encode())])
            ends[m.partition()] = m.offset() + 1
        offsets = [TopicPartition(src, part, off) for part, off in sorted(ends.items())]
        retrying(lambda: p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), 30))
        retrying(lambda: p.commit_transaction(30))
        out("C", tag, len(msgs))
    except KafkaException as e:
        err = e.args[0]
        if err.fatal():
            out("X", err.name(), int(err.retriable()), 1, int(err.txn_requires_abort()))
            sys.exit(2)
        retrying(lambda: p.abort_transaction(30))
        out("A", tag)
        # Start again from the committed offsets: a new consumer in the group reads them.
        c.close()
        c = consumer()
c.close()
out("D")
