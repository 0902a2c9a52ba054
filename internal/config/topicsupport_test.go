package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// topicRefusedExample is a valid value (by Kafka's rules) that each NotImplemented topic
// config refuses.
var topicRefusedExample = map[string]string{
	"compression.gzip.level":                  "5",
	"compression.lz4.level":                   "4",
	"compression.zstd.level":                  "10",
	"file.delete.delay.ms":                    "0",
	"flush.messages":                          "1",
	"follower.replication.throttled.replicas": "*",
	"leader.replication.throttled.replicas":   "0:1",
	"local.retention.bytes":                   "1000",
	"local.retention.ms":                      "1000",
	"max.compaction.lag.ms":                   "60000",
	"message.downconversion.enable":           "false",
	"preallocate":                             "true",
	"remote.log.copy.disable":                 "true",
	"remote.log.delete.on.disable":            "true",
	"remote.storage.enable":                   "true",
	"segment.index.bytes":                     "4096",
	"segment.jitter.ms":                       "1000",
	"unclean.leader.election.enable":          "true",
}

// TestTopicSupport walks the topic config vocabulary: every name is classified; an
// Implemented one's TopicSettings field is read by code outside this package (non-test
// sources); a NotImplemented one refuses a valid value it cannot honour with an
// ErrInvalidValue naming the config and the reason (INVALID_CONFIG on the wire) while its
// default passes; Ignored is only for what Kafka itself ignores (deprecated).
func TestTopicSupport(t *testing.T) {
	var src strings.Builder
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join("..", "config") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	for _, d := range topicDefList {
		e, ok := topicSupport[d.Name]
		if !ok {
			t.Errorf("%s: not in topicSupport (implemented, or refused?)", d.Name)
			continue
		}
		switch e.support {
		case Implemented:
			if _, ok := reflect.TypeFor[TopicSettings]().FieldByName(e.readAs); !ok {
				t.Errorf("%s: readAs %q is no field of TopicSettings", d.Name, e.readAs)
			} else if !regexp.MustCompile(`\.` + e.readAs + `\b`).MatchString(code) {
				t.Errorf("%s is marked implemented, but nothing outside internal/config reads .%s", d.Name, e.readAs)
			}
		case Ignored:
			if !d.Deprecated || e.why == "" {
				t.Errorf("%s: ignored, but not a deprecated config Kafka ignores too (or no reason)", d.Name)
			}
		case NotImplemented:
			ex, ok := topicRefusedExample[d.Name]
			if !ok {
				t.Errorf("%s: not implemented, but no refused example", d.Name)
				continue
			}
			why := e.why
			if err := d.Validate(ex); err != nil {
				why = "" // Kafka's own rules refuse it already (remote.storage.enable)
			}
			err := ValidateTopicConfig(d.Name, &ex)
			if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), d.Name) || !strings.Contains(err.Error(), why) {
				t.Errorf("%s=%s: %v; want an invalid-value error naming it and why", d.Name, ex, err)
			}
			if e.honoured != nil {
				def := d.Default
				if err := ValidateTopicConfig(d.Name, &def); err != nil {
					t.Errorf("%s: its default %q is refused: %v", d.Name, def, err)
				}
			}
		}
	}
	for _, name := range topicSupportNames() {
		if _, ok := topicIndex[name]; !ok {
			t.Errorf("topicSupport names %s, which is not a topic config", name)
		}
	}
}
