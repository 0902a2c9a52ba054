'use strict'
// @kafkajs/confluent-schema-registry scenario against Samsa's schema registry, driven by
// test/interop/schema_registry_test.go.
//
// Usage: node schema-registry-interop.js '{"url":"http://127.0.0.1:8081","prefix":"p"}'
//
// Steps: register an Avro schema (the client first reads the subject's config, then sets
// BACKWARD on it), encode and decode a value; register a compatible v2 and look the schemas
// up (latest id, id by schema, id by version); try an incompatible v3; decode with a fresh
// client (schema fetched by id); JSON Schema and Protobuf schemas with encode/decode; an Avro
// schema referencing another subject's named type. Prints one JSON object on stdout; exits
// non-zero on an unexpected error.

const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const cfg = JSON.parse(process.argv[2])
const p = cfg.prefix

const userV1 = {
  type: 'record', name: 'User', namespace: 'acme',
  fields: [{ name: 'id', type: 'long' }, { name: 'name', type: 'string' }]
}
const userV2 = {
  type: 'record', name: 'User', namespace: 'acme',
  fields: [{ name: 'id', type: 'long' }, { name: 'name', type: 'string' }, { name: 'email', type: 'string', default: '' }]
}
const userBad = {
  type: 'record', name: 'User', namespace: 'acme',
  fields: [{ name: 'id', type: 'long' }, { name: 'name', type: 'string' }, { name: 'age', type: 'int' }]
}

async function main () {
  const registry = new SchemaRegistry({ host: cfg.url })
  const out = {}
  const avroSubject = `${p}-users-value`

  const v1 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV1) }, { subject: avroSubject })
  out.avroV1Id = v1.id
  const encoded = await registry.encode(v1.id, { id: 42, name: 'ada' })
  out.avroEncoded = encoded.toString('hex')
  out.avroDecoded = await registry.decode(encoded)

  const v2 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userV2) }, { subject: avroSubject })
  out.avroV2Id = v2.id
  out.latestId = await registry.getLatestSchemaId(avroSubject)
  out.v1IdBySchema = await registry.getRegistryIdBySchema(avroSubject, { type: SchemaType.AVRO, schema: JSON.stringify(userV1) })
  out.v1IdByVersion = await registry.getRegistryId(avroSubject, 1)

  try {
    await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(userBad) }, { subject: avroSubject })
    out.incompatible = null
  } catch (e) {
    out.incompatible = { name: e.name, message: e.message }
  }

  // A client with an empty cache fetches the writer schema by id (GET /schemas/ids/{id}) and
  // reads v1 data with v2 as the reader schema.
  const fresh = new SchemaRegistry({ host: cfg.url })
  out.freshDecoded = await fresh.decode(encoded)
  const v2Schema = await fresh.getSchema(v2.id)
  out.decodedWithV2 = await fresh.decode(encoded, { [SchemaType.AVRO]: { readerSchema: v2Schema } })

  const jsonSchema = JSON.stringify({
    $schema: 'http://json-schema.org/draft-07/schema#', title: 'Order', type: 'object',
    properties: { id: { type: 'string' }, qty: { type: 'integer' } }, required: ['id']
  })
  const j = await registry.register({ type: SchemaType.JSON, schema: jsonSchema }, { subject: `${p}-orders-value` })
  out.jsonId = j.id
  const jenc = await registry.encode(j.id, { id: 'o-1', qty: 3 })
  out.jsonEncoded = jenc.toString('hex')
  out.jsonDecoded = await fresh.decode(jenc)

  const proto = 'syntax = "proto3";\npackage acme;\n\nmessage Payment {\n  string id = 1;\n  double amount = 2;\n}\n'
  const pr = await registry.register({ type: SchemaType.PROTOBUF, schema: proto }, { subject: `${p}-payments-value` })
  out.protoId = pr.id
  const penc = await registry.encode(pr.id, { id: 'p-1', amount: 2.5 })
  out.protoDecoded = await fresh.decode(penc)

  const address = { type: 'record', name: 'Address', namespace: 'acme', fields: [{ name: 'city', type: 'string' }] }
  await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(address) }, { subject: `${p}-address` })
  const customer = { type: 'record', name: 'Customer', namespace: 'acme', fields: [{ name: 'home', type: 'acme.Address' }] }
  const c = await registry.register({
    type: SchemaType.AVRO,
    schema: JSON.stringify(customer),
    references: [{ name: 'acme.Address', subject: `${p}-address`, version: 1 }]
  }, { subject: `${p}-customers-value` })
  out.refId = c.id
  const cenc = await registry.encode(c.id, { home: { city: 'Prague' } })
  out.refDecoded = await new SchemaRegistry({ host: cfg.url }).decode(cenc)

  process.stdout.write(JSON.stringify(out))
}

main().catch((e) => {
  process.stderr.write(`schema-registry-interop: ${e && e.stack ? e.stack : e}\n`)
  process.exit(1)
})
