package cluster

import (
	"maps"
	"net/url"
)

// GroupConfig is one group's config overrides (Kafka's ConfigResource GROUP, which Kafka keeps
// in its metadata log): the share.* group configs and Samsa's samsa.share.dlq.topic, as
// IncrementalAlterConfigs sets them. The broker validates names and values; the store keeps
// them as given. A group without overrides has no key.
type GroupConfig struct {
	Group   string            `json:"group"`
	Configs map[string]string `json:"configs"`
	Rev     int64             `json:"-"`
}

// GroupConfigKey is the key of group's configs.
func GroupConfigKey(group string) string { return keyGroupConfigs + url.PathEscape(group) }

// Key identifies the group's configs.
func (g GroupConfig) Key() string { return GroupConfigKey(g.Group) }

// PutGroupConfig writes a group's configs at revision g.Rev (0: the group has none yet).
func PutGroupConfig(g GroupConfig) Op { return putJSON(g.Key(), g, g.Rev) }

// DeleteGroupConfig deletes a group's configs at revision g.Rev.
func DeleteGroupConfig(g GroupConfig) Op { return Op{kind: opDelete, key: g.Key(), rev: g.Rev} }

// GroupConfigOf returns group's configs (ok false: the group has no overrides). The returned
// map is shared with the snapshot: do not modify it.
func (s *Snapshot) GroupConfigOf(group string) (GroupConfig, bool) {
	g, ok := s.GroupConfigs[GroupConfigKey(group)]
	return g, ok
}

// copyGroupConfigs copies the group configs of from into to (the records' maps are never
// modified in place, so sharing them is safe).
func copyGroupConfigs(to, from *Snapshot) {
	maps.Copy(to.GroupConfigs, from.GroupConfigs)
}
