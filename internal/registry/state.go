package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// state is the registry's content as of an offset of _schemas: what every registry reading the
// topic up to that offset holds. It changes only through apply, which is deterministic, and has
// no locks of its own (Registry.mu guards it).
type state struct {
	subjects map[string]map[int32]*versionEntry // subject → version → entry
	ids      map[int32]*schemaEntry             // schema id → schema (while some version uses it)
	byKey    map[string]int32                   // identityKey → id (the lowest id with that key)
	// maxID is the largest schema id ever seen: in a SCHEMA record (live, soft-deleted or since
	// tombstoned) or in a NOOP record's maxId. New ids are maxID+1, so ids are never reused.
	maxID   int32
	configs map[string]configEntry // subject ("" = global) → compatibility config
	modes   map[string]string      // subject ("" = global) → mode
}

// versionEntry is one (subject, version).
type versionEntry struct {
	subject string
	version int32
	id      int32
	deleted bool // soft-deleted
}

// schemaEntry is one schema id's content.
type schemaEntry struct {
	id   int32
	typ  SchemaType
	text string
	refs []Reference
	key  string          // identityKey
	uses []*versionEntry // the versions (soft-deleted or not) using this id, in no order
}

// configEntry is a subject's (or the global) compatibility config; zero fields are unset.
type configEntry struct {
	level     Level
	normalize *bool
}

func newState() *state {
	return &state{
		subjects: make(map[string]map[int32]*versionEntry),
		ids:      make(map[int32]*schemaEntry),
		byKey:    make(map[string]int32),
		configs:  make(map[string]configEntry),
		modes:    make(map[string]string),
	}
}

// applyOutcome says what apply did with a record.
type applyOutcome int

const (
	applied  applyOutcome = iota // the record changed (or confirmed) the state
	conflict                     // a SCHEMA record that contradicts the state (a lost race); ignored
	skipped                      // a record of no interest (NOOP marker, CONTEXT, ...) or malformed
)

// errMalformed wraps the reason apply skipped a record it could not decode.
var errMalformed = errors.New("malformed _schemas record")

// apply applies one _schemas record (value nil: a tombstone). A malformed record is skipped with
// an error wrapping errMalformed; the state is then unchanged.
//
// A SCHEMA record for a (subject, version) that exists is applied only if it keeps the id and
// the schema (it may change the deleted flag); one that gives an id already used by a different
// schema is not applied either. Both are conflicts: two registries raced to write, and the
// earlier record in the topic won. The loser rewrites the winner's value under its key, so
// that compaction keeps the winner (Registry.write).
func (s *state) apply(key, value []byte) (applyOutcome, error) {
	var k recordKey
	if err := strictUnmarshal(key, &k); err != nil {
		return skipped, fmt.Errorf("%w: key %.200q: %v", errMalformed, key, err)
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		if subject == "" || k.Version == nil || *k.Version < 1 {
			return skipped, fmt.Errorf("%w: SCHEMA key %.200q without subject or version", errMalformed, key)
		}
		if value == nil {
			s.removeVersion(subject, *k.Version)
			return applied, nil
		}
		var v schemaValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: SCHEMA value: %v", errMalformed, err)
		}
		return s.applySchema(subject, *k.Version, v)
	case keyConfig:
		if value == nil {
			delete(s.configs, subject)
			return applied, nil
		}
		var v configValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: CONFIG value: %v", errMalformed, err)
		}
		var c configEntry
		if v.CompatibilityLevel != "" {
			l, ok := parseLevel(v.CompatibilityLevel)
			if !ok {
				return skipped, fmt.Errorf("%w: CONFIG value: unknown compatibility level %q", errMalformed, v.CompatibilityLevel)
			}
			c.level = l
		}
		c.normalize = v.Normalize
		s.configs[subject] = c
		return applied, nil
	case keyMode:
		if value == nil {
			delete(s.modes, subject)
			return applied, nil
		}
		var v modeValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: MODE value: %v", errMalformed, err)
		}
		m, ok := parseMode(v.Mode)
		if !ok {
			return skipped, fmt.Errorf("%w: MODE value: unknown mode %q", errMalformed, v.Mode)
		}
		s.modes[subject] = m
		return applied, nil
	case keyDeleteSubject:
		if value == nil {
			return skipped, nil
		}
		var v deleteSubjectValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: DELETE_SUBJECT value: %v", errMalformed, err)
		}
		if v.Subject == "" {
			v.Subject = subject
		}
		for ver, e := range s.subjects[v.Subject] {
			if ver <= v.Version {
				e.deleted = true
			}
		}
		return applied, nil
	case keyClearSubject:
		if value == nil {
			return skipped, nil
		}
		var v clearSubjectValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: CLEAR_SUBJECT value: %v", errMalformed, err)
		}
		if v.Subject == "" {
			v.Subject = subject
		}
		for ver, e := range s.subjects[v.Subject] {
			if e.deleted {
				s.removeVersion(v.Subject, ver)
			}
		}
		return applied, nil
	case keyNoop:
		if value == nil {
			return skipped, nil // Confluent's position marker
		}
		var v noopValue
		if err := strictUnmarshal(value, &v); err != nil {
			return skipped, fmt.Errorf("%w: NOOP value: %v", errMalformed, err)
		}
		s.maxID = max(s.maxID, v.MaxID)
		return applied, nil
	case keyContext, keyAssoc:
		return skipped, nil // Confluent's contexts and associations: not served by Samsa
	}
	return skipped, fmt.Errorf("%w: unknown keytype %q", errMalformed, k.KeyType)
}

func (s *state) applySchema(subject string, version int32, v schemaValue) (applyOutcome, error) {
	typ, ok := normalizeType(v.SchemaType)
	if !ok {
		return skipped, fmt.Errorf("%w: SCHEMA value: unknown schemaType %q", errMalformed, v.SchemaType)
	}
	if v.ID < 0 || v.Schema == "" {
		return skipped, fmt.Errorf("%w: SCHEMA value without id or schema", errMalformed)
	}
	key := identityKey(typ, v.Schema, v.References)
	s.maxID = max(s.maxID, v.ID)
	if e := s.subjects[subject][version]; e != nil {
		if e.id != v.ID || s.ids[e.id].key != key {
			return conflict, nil
		}
		e.deleted = v.Deleted
		return applied, nil
	}
	se := s.ids[v.ID]
	if se != nil && se.key != key {
		return conflict, nil
	}
	if se == nil {
		se = &schemaEntry{id: v.ID, typ: typ, text: v.Schema, refs: v.References, key: key}
		s.ids[v.ID] = se
		if cur, ok := s.byKey[key]; !ok || v.ID < cur {
			s.byKey[key] = v.ID
		}
	}
	vs := s.subjects[subject]
	if vs == nil {
		vs = make(map[int32]*versionEntry)
		s.subjects[subject] = vs
	}
	e := &versionEntry{subject: subject, version: version, id: v.ID, deleted: v.Deleted}
	vs[version] = e
	se.uses = append(se.uses, e)
	return applied, nil
}

// removeVersion forgets (subject, version), and its schema id when no version uses it anymore.
func (s *state) removeVersion(subject string, version int32) {
	vs := s.subjects[subject]
	e := vs[version]
	if e == nil {
		return
	}
	delete(vs, version)
	if len(vs) == 0 {
		delete(s.subjects, subject)
	}
	se := s.ids[e.id]
	if se == nil {
		return
	}
	if i := slices.Index(se.uses, e); i >= 0 {
		se.uses = slices.Delete(se.uses, i, i+1)
	}
	if len(se.uses) > 0 {
		return
	}
	delete(s.ids, e.id)
	if s.byKey[se.key] == e.id {
		delete(s.byKey, se.key)
		// Another id with the same schema (possible after IMPORT) takes over, lowest first.
		for id, o := range s.ids {
			if o.key == se.key {
				if cur, ok := s.byKey[se.key]; !ok || id < cur {
					s.byKey[se.key] = id
				}
			}
		}
	}
}

// strictUnmarshal decodes one JSON value into v, refusing trailing data. Unknown fields are
// allowed: Confluent's newer versions add fields (metadata, ruleSet, md5, ...).
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// versions returns subject's versions in ascending order, soft-deleted ones only with
// includeDeleted.
func (s *state) versions(subject string, includeDeleted bool) []*versionEntry {
	vs := s.subjects[subject]
	out := make([]*versionEntry, 0, len(vs))
	for _, e := range vs {
		if includeDeleted || !e.deleted {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// hasSubject reports whether subject has a version (a live one unless includeDeleted).
func (s *state) hasSubject(subject string, includeDeleted bool) bool {
	for _, e := range s.subjects[subject] {
		if includeDeleted || !e.deleted {
			return true
		}
	}
	return false
}

// latest is subject's highest live version, or nil.
func (s *state) latest(subject string) *versionEntry {
	var best *versionEntry
	for _, e := range s.subjects[subject] {
		if !e.deleted && (best == nil || e.version > best.version) {
			best = e
		}
	}
	return best
}

// maxVersion is subject's highest version, soft-deleted ones included (0 if none).
func (s *state) maxVersion(subject string) int32 {
	var m int32
	for v := range s.subjects[subject] {
		m = max(m, v)
	}
	return m
}

// subjectNames returns the subjects with a version (a live one unless includeDeleted), sorted.
func (s *state) subjectNames(includeDeleted bool) []string {
	var out []string
	for name := range s.subjects {
		if s.hasSubject(name, includeDeleted) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// usesOf returns the versions that use schema id (soft-deleted ones only with includeDeleted),
// by subject then version.
func (s *state) usesOf(id int32, includeDeleted bool) []*versionEntry {
	var out []*versionEntry
	if se := s.ids[id]; se != nil {
		for _, e := range se.uses {
			if includeDeleted || !e.deleted {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].subject != out[j].subject {
			return out[i].subject < out[j].subject
		}
		return out[i].version < out[j].version
	})
	return out
}

// referencedBy returns the ids of the schemas whose references name (subject, version), counting
// only versions that are live (or any, with includeDeleted), ascending.
func (s *state) referencedBy(subject string, version int32, includeDeleted bool) []int32 {
	seen := make(map[int32]bool)
	for _, vs := range s.subjects {
		for _, e := range vs {
			if e.deleted && !includeDeleted {
				continue
			}
			for _, r := range s.ids[e.id].refs {
				if r.Subject == subject && r.Version == version {
					seen[e.id] = true
				}
			}
		}
	}
	out := make([]int32, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// configInScope is subject's effective config: its own fields over the global ones over the
// default level.
func (s *state) configInScope(subject string, def Level) configEntry {
	c := s.configs[""]
	if subject != "" {
		sc := s.configs[subject]
		if sc.level != "" {
			c.level = sc.level
		}
		if sc.normalize != nil {
			c.normalize = sc.normalize
		}
	}
	if c.level == "" {
		c.level = def
	}
	return c
}

// modeInScope is subject's mode: its own, else the global one, else READWRITE.
func (s *state) modeInScope(subject string) string {
	if m, ok := s.modes[subject]; ok && subject != "" {
		return m
	}
	if m, ok := s.modes[""]; ok {
		return m
	}
	return ModeReadWrite
}

// Registry modes, by Confluent's names.
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
	ModeForward          = "FORWARD"
)

func parseMode(m string) (string, bool) {
	switch u := strings.ToUpper(m); u {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport, ModeForward:
		return u, true
	}
	return "", false
}
