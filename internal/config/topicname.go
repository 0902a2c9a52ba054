package config

import (
	"fmt"
	"strings"
)

// MaxTopicNameLength is the longest legal topic name (Kafka's limit, which
// leaves room for a partition suffix in a 255-byte file name).
const MaxTopicNameLength = 249

// ValidateTopicName checks Kafka's rule for topic names: non-empty, not "."
// or "..", at most 249 characters, and only ASCII letters, digits, '.', '_'
// and '-'. It returns nil or an error wrapping ErrInvalidTopicName (Kafka
// answers INVALID_TOPIC_EXCEPTION) with Kafka's explanation.
//
// Names with '.' or '_' are legal, but Kafka's metric names map '.' to '_',
// so "a.b" and "a_b" collide: kafka-topics.sh only warns when a new name
// contains either character (see HasCollisionChars), while the broker
// rejects creating a topic whose name collides with an existing one with
// INVALID_TOPIC_EXCEPTION ("Topic 'a.b' collides with existing topic:
// a_b"); see TopicNamesCollide.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: Topic name is illegal, it can't be empty", ErrInvalidTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: Topic name cannot be \".\" or \"..\"", ErrInvalidTopicName)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: Topic name is illegal, it can't be longer than %d characters, topic name: %s",
			ErrInvalidTopicName, MaxTopicNameLength, name)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicChar(name[i]) {
			return fmt.Errorf("%w: Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
				ErrInvalidTopicName, name)
		}
	}
	return nil
}

func legalTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// HasCollisionChars reports whether name contains '.' or '_', the
// characters that can make two topic names collide in metric names. Kafka
// tools print a warning for such names; it is not an error.
func HasCollisionChars(name string) bool { return strings.ContainsAny(name, "._") }

// UnifyCollisionChars maps '.' to '_', the form in which colliding names are
// equal.
func UnifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }

// TopicNamesCollide reports whether a and b are different names that
// collide (equal after UnifyCollisionChars). CreateTopics must reject a
// new topic that collides with an existing one (INVALID_TOPIC_EXCEPTION).
func TopicNamesCollide(a, b string) bool {
	return a != b && UnifyCollisionChars(a) == UnifyCollisionChars(b)
}
