package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Type is a config's data type, numbered as Kafka's DescribeConfigs
// ConfigType (returned by DescribeConfigs v3+).
type Type int8

// The config types, with Kafka's numbering.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3 // 32-bit signed
	TypeShort    Type = 4 // 16-bit signed
	TypeLong     Type = 5 // 64-bit signed
	TypeDouble   Type = 6
	TypeList     Type = 7 // comma-separated strings
	TypeClass    Type = 8
	TypePassword Type = 9
)

var typeNames = [...]string{"UNKNOWN", "BOOLEAN", "STRING", "INT", "SHORT", "LONG", "DOUBLE", "LIST", "CLASS", "PASSWORD"}

// String returns Kafka's name of t, e.g. "LONG".
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Source says where a config value came from, numbered as Kafka's
// DescribeConfigs ConfigSource (kmsg.ConfigSource).
type Source int8

// The config sources, with Kafka's numbering.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG: per-broker dynamic config
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: cluster-wide dynamic config
	SourceStaticBroker         Source = 4 // STATIC_BROKER_CONFIG: the properties file or flags
	SourceDefault              Source = 5 // DEFAULT_CONFIG: Kafka's (or Samsa's) default
	SourceDynamicBrokerLogger  Source = 6 // DYNAMIC_BROKER_LOGGER_CONFIG
	SourceClientMetrics        Source = 7 // CLIENT_METRICS_CONFIG
	SourceGroup                Source = 8 // GROUP_CONFIG
)

var sourceNames = [...]string{"UNKNOWN", "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG",
	"DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG", "DEFAULT_CONFIG",
	"DYNAMIC_BROKER_LOGGER_CONFIG", "CLIENT_METRICS_CONFIG", "GROUP_CONFIG"}

// String returns Kafka's name of s, e.g. "STATIC_BROKER_CONFIG".
func (s Source) String() string {
	if s >= 0 && int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// Def describes one config. Defs are created at init and shared: callers
// must not modify them.
type Def struct {
	// Name is Kafka's config name, e.g. "retention.ms".
	Name string
	// Type is the value's type.
	Type Type
	// Default is the default value in canonical form. When NullDefault is
	// set the default is null (unset) and Default is "".
	Default     string
	NullDefault bool
	// Doc is a one-sentence description.
	Doc string
	// ValidValues describes the accepted values in Kafka's notation, e.g.
	// "[1,...]" or "[delete, compact]"; "" when any value of Type is valid.
	ValidValues string
	// BrokerSynonyms lists, for a topic config, the broker configs it
	// defaults from, highest priority first (e.g. retention.ms:
	// log.retention.ms, log.retention.minutes, log.retention.hours). For a
	// broker config it lists the group of names that set the same value
	// (e.g. log.retention.hours: log.retention.ms, log.retention.minutes,
	// log.retention.hours), or is nil when the config stands alone.
	BrokerSynonyms []string
	// ReadOnly is what DescribeConfigs reports: topic configs are
	// alterable; broker configs are read-only (Samsa has no dynamic broker
	// configs).
	ReadOnly bool
	// Sensitive values are never described (value null).
	Sensitive bool
	// Deprecated marks configs Kafka 3.9 deprecates.
	Deprecated bool
	// Unused marks broker configs Samsa accepts so that a Kafka
	// server.properties loads, but does not act on (e.g. num.io.threads).
	Unused bool

	check func(v value) error // validator beyond the type; nil accepts all

	// Topic defs: pointer to the Broker field holding the effective broker
	// default; nil when the config has no broker synonym.
	brokerField func(b *Broker) any
	// Topic defs: stores a parsed override into TopicSettings.
	store func(s *TopicSettings, v *value)

	// Broker defs: pointer to the Broker field the config sets; nil when
	// the value is only resolved through apply.
	field func(b *Broker) any
	// Broker defs: recomputes derived fields after Raw changed.
	apply func(b *Broker)
	// Broker defs: the other name of the same setting (node.id/broker.id).
	alias string
	// Broker defs: the value is read from Broker.Raw by the package that uses it
	// (internal/security reads the security settings, with per-listener overrides).
	readRaw bool
}

// Validate checks value against d. It returns nil or a *ValueError, which
// matches ErrInvalidValue.
func (d *Def) Validate(value string) error {
	_, err := d.parse(value)
	return err
}

// Canonical returns value in the canonical form Describe reports, e.g.
// "compact,delete" for " compact , delete". It returns a *ValueError when
// value is invalid for d.
func (d *Def) Canonical(value string) (string, error) {
	v, err := d.parse(value)
	if err != nil {
		return "", err
	}
	return v.format(d.Type), nil
}

// parse parses and validates raw.
func (d *Def) parse(raw string) (value, error) {
	v, err := parseValue(d.Type, raw)
	if err == nil && d.check != nil {
		err = d.check(v)
	}
	if err != nil {
		shown := raw
		if d.Sensitive || d.Type == TypePassword {
			shown = "[hidden]"
		}
		return value{}, &ValueError{Name: d.Name, Value: shown, Reason: err.Error()}
	}
	return v, nil
}

// canonical returns raw in canonical form, or raw itself when it does not
// parse (it can only have come from outside the validating paths).
func (d *Def) canonical(raw string) string {
	v, err := d.parse(raw)
	if err != nil {
		return raw
	}
	return v.format(d.Type)
}

// Entry is one config as DescribeConfigs returns it.
type Entry struct {
	Name  string
	Value string
	// Null is set when the value is null (unset with a null default, or
	// sensitive); Value is then "".
	Null      bool
	Source    Source
	ReadOnly  bool
	Sensitive bool
	// IsDefault is Source == SourceDefault (DescribeConfigs v0's field).
	IsDefault bool
	Type      Type
	Doc       string
	// Synonyms lists where the value could come from, highest priority
	// first, including the entry's own source.
	Synonyms []Synonym
}

// Synonym is one layer of a config's value in DescribeConfigs.
type Synonym struct {
	Name  string
	Value string
	// Null is set for a sensitive value.
	Null   bool
	Source Source
}

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrUnknownConfig: the config name is not known (Kafka: INVALID_CONFIG,
	// "Unknown topic config name: x"). Returned by ValidateTopicConfig,
	// TopicSettings, AlterTopicConfigs, Broker.Set and ParseProperties.
	ErrUnknownConfig = errors.New("unknown config")
	// ErrInvalidValue: the value does not parse or is out of range
	// (Kafka: INVALID_CONFIG). The error is a *ValueError or wraps one,
	// except for cross-config conflicts (e.g. min.compaction.lag.ms >
	// max.compaction.lag.ms), which wrap ErrInvalidValue directly.
	ErrInvalidValue = errors.New("invalid config value")
	// ErrInvalidTopicName: returned by ValidateTopicName (Kafka:
	// INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrMalformedProperties: the properties text cannot be read (a bad
	// \uXXXX escape or an oversized input). Returned by ReadProperties and
	// ParseProperties.
	ErrMalformedProperties = errors.New("malformed properties")
)

// ValueError reports an invalid config value. It matches ErrInvalidValue.
type ValueError struct {
	Name   string // config name
	Value  string // the value as given ("[hidden]" for passwords)
	Reason string // why, e.g. "Value must be at least 1"
}

// Error returns Kafka's ConfigException message, e.g. "Invalid value 0 for
// configuration segment.ms: Value must be at least 1".
func (e *ValueError) Error() string {
	return fmt.Sprintf("Invalid value %s for configuration %s: %s", e.Value, e.Name, e.Reason)
}

// Unwrap returns ErrInvalidValue.
func (e *ValueError) Unwrap() error { return ErrInvalidValue }

// UnknownConfigError reports an unknown config name. It matches
// ErrUnknownConfig.
type UnknownConfigError struct {
	Kind string // "topic" or "broker"
	Name string
	Hint string // optional, e.g. the broker config a topic config name maps to
}

// Error returns Kafka's message, e.g. "Unknown topic config name: foo".
func (e *UnknownConfigError) Error() string {
	s := "Unknown " + e.Kind + " config name: " + e.Name
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns ErrUnknownConfig.
func (e *UnknownConfigError) Unwrap() error { return ErrUnknownConfig }
