// KafkaJS over TLS and SASL against a Samsa broker, driven by test/interop/security_test.go.
// Usage: node kafkajs-security.js JSON
// JSON: {"brokers": [...], "topic": ..., "n": N, "ca": CA_FILE, "cert": FILE?, "key": FILE?,
//        "sasl": {"mechanism": "scram-sha-512", "username": ..., "password": ...}?}
// Produces N values "v-<i>" to partition 0 with acks=all, consumes them back in a fresh group
// from the beginning, and prints {"acked": N, "consumed": [values]}.
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const cfg = JSON.parse(process.argv[2]);

async function main() {
  const ssl = { ca: [fs.readFileSync(cfg.ca, 'utf-8')], servername: 'localhost' };
  if (cfg.cert) {
    ssl.cert = fs.readFileSync(cfg.cert, 'utf-8');
    ssl.key = fs.readFileSync(cfg.key, 'utf-8');
  }
  const kafka = new Kafka({
    clientId: 'kafkajs-security', brokers: cfg.brokers, ssl, sasl: cfg.sasl,
    logLevel: logLevel.ERROR, retry: { retries: 3 },
  });
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < cfg.n; i++) messages.push({ value: `v-${i}`, partition: 0 });
  const res = await producer.send({ topic: cfg.topic, acks: -1, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `kafkajs-security-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen.length} messages`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString());
        if (seen.length === cfg.n) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  process.stdout.write(JSON.stringify({ acked: res.length > 0 ? cfg.n : 0, consumed: seen }));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
