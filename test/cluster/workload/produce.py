# librdkafka producer for the cluster fault suites (test/cluster/workload), run with Debian's
# python3-confluent-kafka. It sends "<name>-<seq>" values with enable.idempotence (acks=all)
# until its standard input closes, then flushes and exits. It prints one line per outcome:
#   A <partition> <offset> <value>                         delivered (acknowledged)
#   E <value> <error name> <retriable 0|1> <fatal 0|1>      delivery failed
#   X <error name> <fatal 0|1> <message>                    a client-level error (error_cb)
import sys
import threading
import time

from confluent_kafka import Producer

bootstrap, topic, name, interval_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
out_lock = threading.Lock()


def emit(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def on_error(err):
    emit("X %s %d %s" % (err.name(), 1 if err.fatal() else 0, err.str().replace("\n", " ")))


def on_delivery(err, msg):
    value = msg.value().decode()
    if err is None:
        emit("A %d %d %s" % (msg.partition(), msg.offset(), value))
    else:
        emit("E %s %s %d %d" % (value, err.name(), 1 if err.retriable() else 0, 1 if err.fatal() else 0))


p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "error_cb": on_error,
})

stop = threading.Event()


def watch_stdin():
    sys.stdin.read()
    stop.set()


threading.Thread(target=watch_stdin, daemon=True).start()
seq = 0
while not stop.is_set():
    value = "%s-%d" % (name, seq)
    while True:
        try:
            p.produce(topic, value=value.encode(), on_delivery=on_delivery)
            break
        except BufferError:
            p.poll(0.1)
    seq += 1
    p.poll(interval_ms / 1000.0)
left = p.flush(120)
emit("D %d %d" % (seq, left))
