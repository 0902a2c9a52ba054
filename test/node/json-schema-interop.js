'use strict'
// JSON Schema interop, driven by test/interop/schema_formats_test.go: KafkaJS records whose values
// @kafkajs/confluent-schema-registry encodes and decodes as JSON Schema (ajv) in the Confluent
// wire format, against Samsa's registry.
//
// Usage: node json-schema-interop.js '{"broker":"127.0.0.1:9092","registry":"http://127.0.0.1:8081",
//          "readTopic":"t","read":2,"writeTopic":"t2","subject":"t2-value","schema":"{...}","write":[{...}]}'
//
// Steps: consume `read` records of `readTopic` from the beginning and decode each value through
// the registry; register `schema` (JSON) under `subject` and produce each value of `write`
// encoded with it; try to encode {"id":"not a number"} and report the refusal. Prints one JSON
// object on stdout; logs go to stderr.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const cfg = JSON.parse(process.argv[2])
const kafka = new Kafka({
  clientId: 'samsa-interop-json-schema',
  brokers: [cfg.broker],
  retry: { retries: 5, initialRetryTime: 100 },
  logLevel: logLevel.WARN
})
const registry = new SchemaRegistry({ host: cfg.registry })

function fail (err) {
  process.stderr.write(`json-schema-interop failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
}
const deadline = setTimeout(() => fail(new Error('timed out after 90s')), 90000)

async function read () {
  const consumer = kafka.consumer({ groupId: `json-schema-interop-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topic: cfg.readTopic, fromBeginning: true })
  const values = []
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        try {
          values.push(await registry.decode(message.value))
          if (values.length >= cfg.read) resolve()
        } catch (e) { reject(e) }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  return values
}

async function write () {
  const { id } = await registry.register({ type: SchemaType.JSON, schema: cfg.schema }, { subject: cfg.subject })
  const producer = kafka.producer()
  await producer.connect()
  const messages = []
  for (const v of cfg.write) messages.push({ value: await registry.encode(id, v) })
  await producer.send({ topic: cfg.writeTopic, messages })
  await producer.disconnect()
  let refused = ''
  try {
    await registry.encode(id, { id: 'not a number', item: 'x' })
  } catch (e) { refused = String(e.message || e) }
  return { id, refused }
}

async function main () {
  const values = await read()
  const w = await write()
  clearTimeout(deadline)
  process.stdout.write(JSON.stringify({ read: values, id: w.id, refused: w.refused }) + '\n')
}

main().catch(fail)
