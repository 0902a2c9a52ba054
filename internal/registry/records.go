package registry

import (
	"encoding/json"
	"fmt"
)

// The _schemas topic: one partition, cleanup.policy=compact, every record a JSON key and a JSON
// value (null for a tombstone) in Confluent Schema Registry's own formats, so that the topic
// means the same to Samsa and to Confluent's tools:
//
//	key                                                           value
//	{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}        {"subject":S,"version":V,"id":ID,
//	                                                               "schemaType":T,"references":[...],
//	                                                               "schema":TEXT,"deleted":B}
//	                                                              (schemaType omitted for AVRO,
//	                                                               references when empty;
//	                                                               null: version permanently deleted)
//	{"keytype":"CONFIG","subject":S,"magic":0}                    {"subject":S,"compatibilityLevel":L,
//	{"keytype":"CONFIG","magic":0}             (global)            "normalize":B}  (null: deleted)
//	{"keytype":"MODE","subject":S,"magic":0}                      {"subject":S,"mode":M} (null: deleted)
//	{"keytype":"MODE","magic":0}               (global)
//	{"keytype":"DELETE_SUBJECT","subject":S,"magic":0}            {"subject":S,"version":V}: versions
//	                                                               1..V of S are soft-deleted
//	{"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}             {"subject":S}: S's soft-deleted
//	                                                               versions are gone (older Confluent)
//	{"keytype":"NOOP","magic":0}                                  Confluent: null (a position marker).
//	                                                               Samsa: {"maxId":N}, see below
//
// Records are applied in offset order by every registry reading the topic; applying is
// deterministic (state.apply), so all of them hold the same state at the same offset.
//
// Samsa's one addition lives in a record Confluent's reader skips without reading its value: the
// NOOP record's value carries the largest schema id ever assigned, written before a permanent
// delete. Compaction removes a permanently deleted schema's record (and later its tombstone);
// the NOOP record keeps its id from being assigned again after a restart.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyNoop          = "NOOP"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
	keyContext       = "CONTEXT"
	keyAssoc         = "ASSOC"
)

// recordKey is every key type's JSON; unused fields are omitted. Field order is Confluent's.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version *int32  `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int32       `json:"version"`
	ID         int32       `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

type configValue struct {
	Subject            *string `json:"subject,omitempty"`
	CompatibilityLevel string  `json:"compatibilityLevel,omitempty"`
	Normalize          *bool   `json:"normalize,omitempty"`
}

type modeValue struct {
	Subject *string `json:"subject,omitempty"`
	Mode    string  `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int32  `json:"version"`
}

type clearSubjectValue struct {
	Subject string `json:"subject"`
}

type noopValue struct {
	MaxID int32 `json:"maxId"`
}

func optSubject(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registry: marshal %T: %v", v, err)) // only fixed struct types reach here
	}
	return b
}

func schemaKeyBytes(subject string, version int32) []byte {
	return mustJSON(recordKey{KeyType: keySchema, Subject: &subject, Version: &version, Magic: 1})
}

func configKeyBytes(subject string) []byte {
	return mustJSON(recordKey{KeyType: keyConfig, Subject: optSubject(subject)})
}

func modeKeyBytes(subject string) []byte {
	return mustJSON(recordKey{KeyType: keyMode, Subject: optSubject(subject)})
}

func deleteSubjectKeyBytes(subject string) []byte {
	return mustJSON(recordKey{KeyType: keyDeleteSubject, Subject: &subject})
}

func noopKeyBytes() []byte { return mustJSON(recordKey{KeyType: keyNoop}) }

func schemaValueOf(subject string, version, id int32, p *parsedSchema, deleted bool) schemaValue {
	v := schemaValue{Subject: subject, Version: version, ID: id, References: p.refs, Schema: p.text, Deleted: deleted}
	if p.typ != TypeAvro {
		v.SchemaType = string(p.typ)
	}
	return v
}

// storeRecord is one record to write to _schemas: Value nil is a tombstone.
type storeRecord struct {
	Key, Value []byte
}

func schemaRecord(v schemaValue) storeRecord {
	return storeRecord{Key: schemaKeyBytes(v.Subject, v.Version), Value: mustJSON(v)}
}
