// Package config holds Kafka's configuration vocabulary for Samsa: the topic
// configs and broker configs with Kafka's names, types, defaults, validation
// and documentation, the broker's static configuration read from a Java
// .properties file, and the rules that turn both into the values a topic
// actually uses and the entries DescribeConfigs returns.
//
// # Model
//
// A config is described by a [Def]: its name, [Type] (numbered as Kafka's
// DescribeConfigs ConfigType), default, documentation and validator. The
// tables are fixed at init; [TopicDefs] and [BrokerDefs] list them sorted by
// name, [TopicDef] and [BrokerDef] look one up.
//
// The broker's static configuration is a [Broker]: typed fields for the
// settings Samsa uses plus Raw, the keys that were explicitly set (from the
// properties file or flags) exactly as given. [DefaultBroker] returns
// Kafka's defaults (with the Samsa deviations listed below); [ParseProperties]
// and [Broker.Set] apply keys; [Broker.Validate] checks the whole.
//
// A topic's configuration is only its overrides, a map from topic config name
// to value (what CreateTopics or AlterConfigs set on the topic). Every other
// value comes from the broker, through the topic config's broker synonyms:
//
//	topic override (DYNAMIC_TOPIC_CONFIG)
//	  → broker synonym set in the properties file (STATIC_BROKER_CONFIG),
//	    in synonym order, e.g. log.retention.ms, then log.retention.minutes,
//	    then log.retention.hours (converted to milliseconds)
//	  → Kafka's default of the broker synonym (DEFAULT_CONFIG)
//
// [Broker.TopicValue] resolves one name, [Broker.DescribeTopic] produces the
// DescribeConfigs entries with their synonym chains, and
// [Broker.TopicSettings] parses everything once into a typed [TopicSettings]
// for the commit log. Samsa has no dynamic broker configs yet, so the
// DYNAMIC_BROKER_CONFIG and DYNAMIC_DEFAULT_BROKER_CONFIG layers are always
// empty.
//
// # Values
//
// Values are parsed as Kafka's ConfigDef parses them: surrounding whitespace
// is trimmed, booleans are "true"/"false" in any case, numbers are decimal
// and must fit the type (INT 32-bit, SHORT 16-bit, LONG 64-bit), lists are
// comma separated with whitespace around commas ignored, and string choices
// are case-sensitive. Described values are canonical (e.g. " 100 " is
// described as "100", "compact , delete" as "compact,delete", a double 1 as
// "1.0").
//
// # Errors
//
// An unknown name yields an error matching [ErrUnknownConfig] (Kafka answers
// INVALID_CONFIG); a bad value yields a [*ValueError] matching
// [ErrInvalidValue] (also INVALID_CONFIG), whose message has Kafka's form
// "Invalid value X for configuration Y: reason" and can be returned to
// clients as the error message.
//
// # Deviations from Kafka 3.9
//
//   - node.id and broker.id default to 0 (Kafka: -1, i.e. must be set), so a
//     single node starts with no configuration. The two names are aliases.
//   - offsets.topic.replication.factor, transaction.state.log.replication.factor
//     and transaction.state.log.min.isr default to 1 (Kafka: 3, 3, 2), because
//     Kafka's defaults cannot be met by one node.
//   - log.dir defaults to /tmp/samsa-logs (Kafka: /tmp/kafka-logs) so that
//     Samsa never opens a Kafka installation's data by accident.
//   - Unknown keys in the properties file are errors (Kafka logs a warning).
//   - Broker configs Samsa does not implement refuse the start when set, and configs it has
//     no use for are logged at start: see [Support] and [Broker.CheckSupported]. Every
//     client listener is served with its protocol ([Broker.ServedListeners]).
//   - ssl.keystore.type and ssl.truststore.type default to PEM (Kafka: JKS), the only
//     format served; sasl.enabled.mechanisms defaults to SCRAM-SHA-256,SCRAM-SHA-512
//     (Kafka: GSSAPI, not served).
//   - socket.send.buffer.bytes and socket.receive.buffer.bytes apply only when set; unset,
//     the OS's autotuned buffers are kept (Kafka: 100 KiB).
//   - remote.storage.enable accepts only false: Samsa has no tiered storage,
//     which Kafka answers the same way when remote.log.storage.system.enable
//     is off.
//   - The synonyms of a topic config list every broker synonym that is set;
//     Kafka's ConfigHelper drops the later synonyms (e.g. log.retention.hours
//     for retention.ms) when the first one is not set, which hides where the
//     value came from.
//   - samsa.durability is Samsa's own key; see [DurabilityFsync] and
//     [DurabilityPageCache].
//
// The package uses only the standard library.
package config
