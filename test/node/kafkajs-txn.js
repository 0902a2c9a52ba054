'use strict'
// KafkaJS transactions, driven by test/interop/kafkajs_test.go (TestKafkaJSTransactions).
//
// Usage: node kafkajs-txn.js '{"broker":"127.0.0.1:9092","in":"i","out":"o","group":"g","txnId":"t"}'
//
// Steps: a transactional producer (idempotent, one request in flight) runs four transactions
// on `out` (2 partitions): c1 (6 records, committed), a1 (6 records, aborted), c2 (6 records
// with the group's offset of `in` partition 0 set to 6 by sendOffsets, committed) and a2
// (6 records, offset 1 sent, aborted). Then a plain producer appends a sentinel "~end" to each
// partition of `out`, and a read_committed consumer reads `out` from the beginning up to the
// sentinels. Prints {"consumed": [values]} on stdout; logs go to stderr.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs')

const cfg = JSON.parse(process.argv[2])

const kafka = new Kafka({
  clientId: 'samsa-interop-kafkajs-txn',
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
  process.stderr.write(`kafkajs-txn failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
}

const deadline = setTimeout(() => fail(new Error('timed out after 90s')), 90000)

async function main () {
  const producer = kafka.producer({ transactionalId: cfg.txnId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const run = async (prefix, commit, offset) => {
    const txn = await producer.transaction()
    const messages = []
    for (let i = 0; i < 6; i++) messages.push({ value: `${prefix}-${i}`, partition: i % 2 })
    await txn.send({ topic: cfg.out, messages })
    if (offset !== undefined) {
      await txn.sendOffsets({
        consumerGroupId: cfg.group,
        topics: [{ topic: cfg.in, partitions: [{ partition: 0, offset: String(offset) }] }]
      })
    }
    if (commit) await txn.commit()
    else await txn.abort()
  }
  await run('c1', true)
  await run('a1', false)
  await run('c2', true, 6)
  await run('a2', false, 1)
  await producer.disconnect()

  const plain = kafka.producer()
  await plain.connect()
  await plain.send({ topic: cfg.out, messages: [{ value: '~end', partition: 0 }, { value: '~end', partition: 1 }] })
  await plain.disconnect()

  const consumer = kafka.consumer({ groupId: cfg.group + '-reader', readUncommitted: false, maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topic: cfg.out, fromBeginning: true })
  const consumed = []
  const ends = new Set()
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const v = message.value.toString()
        if (v === '~end') ends.add(partition)
        else consumed.push(v)
        if (ends.size === 2) resolve()
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  clearTimeout(deadline)
  process.stdout.write(JSON.stringify({ consumed: consumed.sort() }) + '\n')
}

main().catch(fail)
