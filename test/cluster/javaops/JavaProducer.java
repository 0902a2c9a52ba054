// The reference Java producer (kafka-clients 4.1.1) for the javaops suite, run with the JDK's
// source launcher: java -cp <Kafka's classpath> JavaProducer.java BOOTSTRAP TOPIC NAME INTERVAL_MS
//
// It sends "<name>-<seq>" values (test/cluster/history) with acks=all and idempotence, round
// robin over the partitions, one every INTERVAL_MS, until its standard input closes; then it
// flushes, closes and exits. It prints one line per outcome:
//   A <partition> <offset> <value> <latency µs>     acknowledged (latency: send() to callback)
//   E <value> <exception class> <retriable 0|1>      delivery failed
//   D <records sent>                                 finished (after flush and close)

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RoundRobinPartitioner;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaProducer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], name = args[2];
        long intervalMs = Long.parseLong(args[3]);
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        // Round robin as the franz-go producers of the cluster suites: a sticky partitioner
        // would keep filling the batch of a partition whose leader is unreachable.
        p.put(ProducerConfig.PARTITIONER_CLASS_CONFIG, RoundRobinPartitioner.class.getName());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, name);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

        AtomicBoolean stop = new AtomicBoolean();
        Thread watcher = new Thread(() -> {
            try (InputStream in = System.in) {
                while (in.read() >= 0) {
                    // drain: the test only closes the pipe
                }
            } catch (Exception ignored) {
                // a broken pipe is the same signal
            }
            stop.set(true);
        });
        watcher.setDaemon(true);
        watcher.start();

        long seq = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            long next = System.nanoTime();
            while (!stop.get()) {
                String value = name + "-" + seq++;
                long sent = System.nanoTime();
                producer.send(new ProducerRecord<>(topic, value), (md, err) -> {
                    long micros = (System.nanoTime() - sent) / 1000;
                    synchronized (out) {
                        if (err == null) {
                            out.println("A " + md.partition() + " " + md.offset() + " " + value + " " + micros);
                        } else {
                            out.println("E " + value + " " + err.getClass().getName() + " "
                                    + (err instanceof RetriableException ? 1 : 0));
                        }
                        out.flush();
                    }
                });
                next += intervalMs * 1_000_000L;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000L, (int) (wait % 1_000_000L));
                } else {
                    next = System.nanoTime(); // fell behind (send blocked): no burst to catch up
                }
            }
            producer.flush();
        }
        synchronized (out) {
            out.println("D " + seq);
            out.flush();
        }
    }
}
