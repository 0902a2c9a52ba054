'use strict'
// KafkaJS interop scenario, driven by test/interop/kafkajs_test.go.
//
// Usage: node kafkajs-interop.js '{"broker":"127.0.0.1:9092","topic":"t","group":"g","count":60}'
//
// Steps: admin createTopics (3 partitions, a config) + fetchTopicMetadata;
// produce `count` records with gzip (keys, null keys, headers, explicit
// timestamps, explicit partitions); consume them in a consumer group from
// the beginning; admin fetchOffsets for the group. Prints one JSON object
// on stdout; logs go to stderr. Exits non-zero on any error or timeout.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

const cfg = JSON.parse(process.argv[2])
const count = cfg.count || 60
const partitions = 3

const kafka = new Kafka({
  clientId: 'samsa-interop-kafkajs',
  brokers: [cfg.broker],
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 5, initialRetryTime: 100 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, level, label, log }) => {
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${log.message} ${JSON.stringify(log)}\n`)
  }
})

function fail (err) {
  process.stderr.write(`kafkajs-interop failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
}

const deadline = setTimeout(() => fail(new Error('timed out after 90s')), 90000)

async function main () {
  const out = {}

  const admin = kafka.admin()
  await admin.connect()
  out.created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{
      topic: cfg.topic,
      numPartitions: partitions,
      replicationFactor: 1,
      configEntries: [{ name: 'retention.ms', value: '3600000' }]
    }]
  })
  const md = await admin.fetchTopicMetadata({ topics: [cfg.topic] })
  out.metadata = md.topics.map(t => ({
    name: t.name,
    partitions: t.partitions.map(p => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas }))
  }))

  // Records: partition i % 3, every fourth without a key, headers on odd
  // ones, explicit timestamps one second apart in the recent past.
  const base = Date.now() - 3600 * 1000
  const messages = []
  for (let i = 0; i < count; i++) {
    const m = {
      partition: i % partitions,
      key: i % 4 === 3 ? null : `key-${i % 10}`,
      value: `kafkajs value ${i} ${'abc'.repeat(i % 11)}`,
      timestamp: String(base + i * 1000)
    }
    if (i % 2 === 1) m.headers = { origin: 'kafkajs', seq: String(i) }
    messages.push(m)
  }
  out.produced = messages

  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const acks = await producer.send({
    topic: cfg.topic,
    compression: CompressionTypes.GZIP,
    acks: -1,
    messages
  })
  out.acks = acks.map(a => ({ partition: a.partition, baseOffset: a.baseOffset, errorCode: a.errorCode }))
  await producer.disconnect()

  const consumer = kafka.consumer({
    groupId: cfg.group,
    maxWaitTimeInMs: 200,
    sessionTimeout: 10000,
    heartbeatInterval: 500
  })
  await consumer.connect()
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true })
  const consumed = []
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers = {}
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString()
        consumed.push({
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString(),
          value: message.value === null ? null : message.value.toString(),
          timestamp: message.timestamp,
          headers
        })
        if (consumed.length === count) resolve()
      }
    }).catch(reject)
  })
  out.consumed = consumed
  await consumer.disconnect() // commits the resolved offsets

  out.committed = (await admin.fetchOffsets({ groupId: cfg.group, topics: [cfg.topic] }))
    .map(t => ({ topic: t.topic, partitions: t.partitions.map(p => ({ partition: p.partition, offset: p.offset })) }))
  out.groups = (await admin.listGroups()).groups.map(g => g.groupId)
  await admin.disconnect()

  clearTimeout(deadline)
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch(fail)
