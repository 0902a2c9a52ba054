package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a", true},
		{"Orders.v2_final-1", true},
		{"__consumer_offsets", true},
		{"..a", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"has space", false},
		{"slash/name", false},
		{"colon:name", false},
		{"tab\tname", false},
		{"ünicode", false},
		{"nul\x00", false},
	}
	for _, tt := range tests {
		err := ValidateTopicName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateTopicName(%q) = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalidTopicName", tt.name, err)
		}
	}
}

func TestTopicNameCollisions(t *testing.T) {
	tests := []struct {
		a, b    string
		collide bool
	}{
		{"a.b", "a_b", true},
		{"a_b", "a.b", true},
		{"a.b_c", "a_b.c", true},
		{"a.b", "a.b", false}, // the same name exists: TOPIC_ALREADY_EXISTS, not a collision
		{"a-b", "a_b", false},
		{"ab", "a_b", false},
	}
	for _, tt := range tests {
		if got := TopicNamesCollide(tt.a, tt.b); got != tt.collide {
			t.Errorf("TopicNamesCollide(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.collide)
		}
	}
	if !HasCollisionChars("a.b") || !HasCollisionChars("a_b") || HasCollisionChars("a-b") {
		t.Error("HasCollisionChars wrong")
	}
	if got := UnifyCollisionChars("a.b_c.d"); got != "a_b_c_d" {
		t.Errorf("UnifyCollisionChars = %q", got)
	}
}
