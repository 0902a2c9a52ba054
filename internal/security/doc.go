// Package security holds Kafka's security model for a Samsa node, with Kafka's config names:
//
//   - Listeners (listeners.go): `listeners`, `listener.security.protocol.map` and
//     `advertised.listeners` parsed into named listeners, each with one of the four protocols
//     PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL, and `listener.name.<l>.<config>` overrides.
//   - TLS (tls.go): a *tls.Config built from PEM files (`ssl.keystore.location` holds the key
//     and its certificate chain in one file, as Kafka reads it; `ssl.truststore.location` the
//     trusted CAs), TLS 1.2 or newer, `ssl.client.auth`, and certificates reloaded when their
//     files change. The principal of a client certificate is `User:` + its subject (RFC 2253)
//     mapped by `ssl.principal.mapping.rules` (principal.go).
//   - Authentication (sasl.go, scram.go): SASL PLAIN and SCRAM-SHA-256/512 server sessions.
//     Users and their SCRAM credentials (salt, iterations, StoredKey, ServerKey: never the
//     password) are the only secret kept; PLAIN checks a password against the same
//     credential, so one user works with every mechanism.
//   - Authorization (acl.go): ACLs with the semantics of Kafka's StandardAuthorizer. A check
//     reads an immutable snapshot (copy on write) indexed by resource type and name, so it
//     takes no lock and allocates nothing.
//   - Quotas (quota.go): client quotas by user and client id (producer_byte_rate,
//     consumer_byte_rate, request_percentage) with Kafka's precedence of entities, enforced
//     the Kafka way (throttle_time_ms in the response and the connection muted meanwhile),
//     the throttle coming from a token bucket (as Kafka's KIP-599 quotas) rather than Kafka's
//     sampled byte rate, which lets bursty producers oscillate (see bucket); connection limits
//     per IP and in total (conns.go).
//   - Persistence (store.go): credentials, ACLs and quotas are the node's security metadata,
//     kept behind the Store interface. A single node keeps them in one file in its data
//     directory, replaced atomically (write, fsync, rename, fsync the directory); a cluster
//     keeps them in its metadata store (clusterstore.go: one etcd key per record, every
//     change a compare-and-swap on the records it touches, a watch delivering other
//     brokers' changes to Node).
//   - HTTP (http.go): a basic-auth middleware that checks the same users, for the schema
//     registry and the console.
//
// Node ties these together for one server. It imports nothing from the broker: the broker asks
// it questions (who is this, may they do that, how long to throttle) and applies the answers.
package security
