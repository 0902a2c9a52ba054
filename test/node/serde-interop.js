'use strict'
// serde interop scenario, driven by test/interop/serde_test.go: CloudEvents
// envelopes with Confluent-framed Avro data, read and written by libraries
// written elsewhere: KafkaJS for the records, the CloudEvents JavaScript SDK
// (npm cloudevents) for the envelope, @kafkajs/confluent-schema-registry
// (avsc) for the registry and the Avro data.
//
// Usage: node serde-interop.js '{"broker":"127.0.0.1:9092","registry":"http://127.0.0.1:8081",
//                                "topic":"t","read":4,"writeTopic":"t2","schemaId":1,"write":2}'
//
// Steps: consume `read` records of `topic` from the beginning, turn each into a
// CloudEvent with the SDK's Kafka binding (or note that the SDK says it is not
// one) and decode its data through the registry; then produce `write` events of
// the SDK's binary mode to `writeTopic`, their data encoded with schema
// `schemaId`. Prints one JSON object on stdout; logs go to stderr.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry')
const { CloudEvent, Kafka: CEKafka } = require('cloudevents')

const cfg = JSON.parse(process.argv[2])

const kafka = new Kafka({
  clientId: 'samsa-interop-serde',
  brokers: [cfg.broker],
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 5, initialRetryTime: 100 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) => {
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${log.message} ${JSON.stringify(log)}\n`)
  }
})
const registry = new SchemaRegistry({ host: cfg.registry })

function fail (err) {
  process.stderr.write(`serde-interop failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
}

const deadline = setTimeout(() => fail(new Error('timed out after 90s')), 90000)

// KafkaJS gives header values as Buffers; the CloudEvents binding wants strings.
function stringHeaders (headers) {
  const out = {}
  for (const [k, v] of Object.entries(headers || {})) {
    out[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v)
  }
  return out
}

async function readEnvelopes () {
  const consumer = kafka.consumer({ groupId: `serde-interop-${Date.now()}` })
  consumer.on(consumer.events.CRASH, e => fail(e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true })
  const messages = []
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        messages.push(message)
        if (messages.length === cfg.read) resolve()
      }
    }).catch(reject)
  })
  await consumer.disconnect()

  const out = []
  for (const m of messages) {
    const msg = { key: m.key, value: m.value, headers: stringHeaders(m.headers) }
    const r = { offset: Number(m.offset), isEvent: CEKafka.isEvent(msg) }
    let data = m.value
    if (r.isEvent) {
      const ev = CEKafka.toEvent(msg)
      r.event = {
        id: ev.id,
        source: ev.source,
        type: ev.type,
        specversion: ev.specversion,
        time: ev.time,
        subject: ev.subject,
        datacontenttype: ev.datacontenttype,
        schemaversion: ev.schemaversion
      }
      data = ev.data
    }
    r.data = await registry.decode(data)
    out.push(r)
  }
  return out
}

async function writeEvents () {
  const producer = kafka.producer()
  await producer.connect()
  const messages = []
  for (let i = 0; i < cfg.write; i++) {
    const data = await registry.encode(cfg.schemaId, { id: 100 + i, item: `js-${i}`, coupon: i % 2 ? 'JS' : null })
    const ev = new CloudEvent({
      id: `js-${i}`,
      source: '/node/sdk',
      type: 'shop.order.placed',
      subject: `order/${100 + i}`,
      datacontenttype: 'application/avro',
      data
    })
    const m = CEKafka.binary(ev)
    const headers = {}
    for (const [k, v] of Object.entries(m.headers)) {
      if (v !== undefined) headers[k] = String(v)
    }
    messages.push({ key: String(100 + i), value: m.value, headers })
  }
  await producer.send({ topic: cfg.writeTopic, messages })
  await producer.disconnect()
  return messages.length
}

async function main () {
  const out = { read: await readEnvelopes(), written: await writeEvents() }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().then(() => { clearTimeout(deadline) }, fail)
