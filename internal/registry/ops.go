package registry

import (
	"context"
	"fmt"
	"strings"
)

// The registry's operations. Each write operation runs under writeMu: catch up with the topic,
// plan against the state (under mu's read lock), write, read the write back, verify it took.
// A SCHEMA record can lose a race with another registry writing the same topic (state.apply);
// then the loser restores the winner's value under its key and plans again.

// maxWriteAttempts bounds how often a write operation is planned again after losing a race.
const maxWriteAttempts = 10

// schemaRequest is the body of POST /subjects/{s}/versions, POST /subjects/{s} and the
// compatibility endpoints.
type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	// ID and Version are set by clients importing schemas (IMPORT mode).
	ID      int32 `json:"id,omitempty"`
	Version int32 `json:"version,omitempty"`
}

// subjectSchema is a registered (subject, version) as the REST API shows it.
type subjectSchema struct {
	Subject    string      `json:"subject"`
	Version    int32       `json:"version"`
	ID         int32       `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted,omitempty"`
}

func (st *state) subjectSchemaOf(e *versionEntry) subjectSchema {
	se := st.ids[e.id]
	ss := subjectSchema{Subject: e.subject, Version: e.version, ID: e.id, References: se.refs, Schema: se.text, Deleted: e.deleted}
	if se.typ != TypeAvro {
		ss.SchemaType = string(se.typ)
	}
	return ss
}

// resolver returns the reference resolver over st: soft-deleted versions resolve; -1 is the
// latest live version.
func (st *state) resolver() refResolver {
	return func(subject string, version int32) (refTarget, bool) {
		var e *versionEntry
		if version == -1 {
			e = st.latest(subject)
		} else {
			e = st.subjects[subject][version]
		}
		if e == nil {
			return refTarget{}, false
		}
		se := st.ids[e.id]
		return refTarget{version: e.version, typ: se.typ, text: se.text, refs: se.refs}, true
	}
}

// parsedByID returns schema id parsed (from the cache when its content is unchanged). The caller
// holds mu (read or write).
func (r *Registry) parsedByIDLocked(st *state, id int32) (*parsedSchema, error) {
	se := st.ids[id]
	if se == nil {
		return nil, errSchemaIDNotFound(id)
	}
	r.parsedMu.Lock()
	p := r.parsed[id]
	r.parsedMu.Unlock()
	if p != nil && p.key == se.key {
		return p, nil
	}
	p, err := parseSchema(se.typ, se.text, se.refs, false, st.resolver())
	if err != nil {
		return nil, err
	}
	p.text, p.key = se.text, se.key // as stored
	r.parsedMu.Lock()
	r.parsed[id] = p
	r.parsedMu.Unlock()
	return p, nil
}

// priorVersionsLocked returns subject's live versions, parsed, oldest first. A version that no
// longer parses (its references were removed behind the registry's back) is left out and logged.
func (r *Registry) priorVersionsLocked(st *state, subject string) []priorVersion {
	var out []priorVersion
	for _, e := range st.versions(subject, false) {
		p, err := r.parsedByIDLocked(st, e.id)
		if err != nil {
			r.log.Warn("schema registry: a registered version does not parse; not checking compatibility against it",
				"subject", subject, "version", e.version, "id", e.id, "err", err)
			continue
		}
		out = append(out, priorVersion{version: e.version, schema: p})
	}
	return out
}

// plan is what a write operation decided: records to write and, for SCHEMA records, what the
// state must hold after the write for the operation to have taken.
type plan struct {
	records []storeRecord
	expect  []schemaValue // SCHEMA records written, to verify
}

// run executes a write operation: planFn is called on the caught-up state (under mu's read
// lock) and returns the plan, or nil to write nothing. run writes the plan, verifies it, and on
// a lost race restores the winners and plans again.
func (r *Registry) run(ctx context.Context, planFn func(st *state) (*plan, error)) error {
	if !r.ready.Load() {
		return ErrNotReady
	}
	ctx, cancel := r.opContext(ctx)
	defer cancel()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	var orphans []schemaValue
	err := ErrConflict
	for range maxWriteAttempts {
		if err = r.catchUp(ctx); err != nil {
			break
		}
		r.mu.RLock()
		var p *plan
		p, err = planFn(r.mu.st)
		r.mu.RUnlock()
		if err != nil || p == nil {
			break
		}
		if err = r.write(ctx, p.records); err != nil {
			break
		}
		fix, lost := r.lostRecords(p)
		orphans = append(orphans, lost...)
		if len(fix) == 0 && len(lost) == 0 {
			break
		}
		r.log.Warn("schema registry: lost a concurrent write to another registry; retrying", "restored", len(fix), "orphaned", len(lost))
		if err = r.write(ctx, fix); err != nil {
			break
		}
		err = ErrConflict
	}
	if len(orphans) > 0 {
		if cerr := r.removeOrphans(ctx, orphans); cerr != nil {
			r.log.Warn("schema registry: could not remove records that lost a concurrent write", "err", cerr)
		}
	}
	return err
}

// lostRecords checks the SCHEMA records of p took. For each that did not: if the version it
// wrote exists (another registry's won), fix holds the winner's value to write again under
// that key, so that compaction keeps what every reader applied; if it does not exist (the
// record lost because its id was taken), the record is an orphan (see removeOrphans).
func (r *Registry) lostRecords(p *plan) (fix []storeRecord, orphans []schemaValue) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	for _, v := range p.expect {
		e := st.subjects[v.Subject][v.Version]
		typ, _ := normalizeType(v.SchemaType)
		if e != nil && e.id == v.ID && e.deleted == v.Deleted && st.ids[e.id].key == identityKey(typ, v.Schema, v.References) {
			continue
		}
		if e == nil {
			orphans = append(orphans, v)
			continue
		}
		se := st.ids[e.id]
		w := schemaValue{Subject: e.subject, Version: e.version, ID: e.id, References: se.refs, Schema: se.text, Deleted: e.deleted}
		if se.typ != TypeAvro {
			w.SchemaType = string(se.typ)
		}
		fix = append(fix, schemaRecord(w))
	}
	return fix, orphans
}

// removeOrphans writes a tombstone for each orphan's key that is still free once the operation
// is over. An orphan record was ignored by every reader (its id was taken), but compaction
// could otherwise keep it as its key's last record and let a reader starting after the id's
// winner is gone apply it. Usually the retry, or another write, has reused the key by now,
// which supersedes the orphan; then nothing is written.
func (r *Registry) removeOrphans(ctx context.Context, orphans []schemaValue) error {
	if err := r.catchUp(ctx); err != nil {
		return err
	}
	var recs []storeRecord
	r.mu.RLock()
	for _, v := range orphans {
		if r.mu.st.subjects[v.Subject][v.Version] == nil {
			recs = append(recs, storeRecord{Key: schemaKeyBytes(v.Subject, v.Version)})
		}
	}
	r.mu.RUnlock()
	return r.write(ctx, recs)
}

// contextName is the schema context every subject is in: Samsa has only Confluent's default
// context, ".".
const contextName = "."

// register is POST /subjects/{subject}/versions: it returns the schema's id under subject,
// registering a new version if the subject does not hold the schema yet.
func (r *Registry) register(ctx context.Context, subject string, req schemaRequest, normalize, force bool) (int32, error) {
	if err := checkSubjectName(subject); err != nil {
		return 0, err
	}
	var id int32
	err := r.run(ctx, func(st *state) (*plan, error) {
		var p *plan
		var err error
		id, p, err = r.planRegister(st, subject, req, normalize, force)
		return p, err
	})
	return id, err
}

func (r *Registry) planRegister(st *state, subject string, req schemaRequest, normalize, force bool) (int32, *plan, error) {
	mode := st.modeInScope(subject)
	importing := mode == ModeImport || mode == ModeForward
	switch {
	case mode == ModeReadOnly || mode == ModeReadOnlyOverride:
		return 0, nil, errNotPermitted("Subject %s in context %s is in read-only mode", subject, contextName)
	case req.ID > 0 && !importing:
		return 0, nil, errNotPermitted("Subject %s in context %s is not in import mode", subject, contextName)
	case req.ID <= 0 && mode != ModeReadWrite:
		return 0, nil, errNotPermitted("Subject %s in context %s is not in read-write mode", subject, contextName)
	}
	typ, ok := normalizeType(req.SchemaType)
	if !ok {
		return 0, nil, errInvalidSchema("Invalid schema type %s; supported types are AVRO, JSON and PROTOBUF", req.SchemaType)
	}
	cfg := st.configInScope(subject, r.cfg.DefaultCompatibility)
	if cfg.normalize != nil && *cfg.normalize {
		normalize = true
	}
	ps, err := parseSchema(typ, req.Schema, req.References, normalize, st.resolver())
	if err != nil {
		return 0, nil, err
	}

	schemaID := int32(-1)
	if id, ok := st.byKey[ps.key]; ok && (req.ID <= 0 || req.ID == id) {
		if req.Version <= 0 {
			// Already registered under this subject (a live version): nothing to write.
			var found *versionEntry
			for _, e := range st.versions(subject, false) {
				if e.id == id {
					found = e
				}
			}
			if found != nil {
				return id, nil, nil
			}
		}
		schemaID = id
	}

	if !importing && !force {
		if msgs := checkCompatibility(cfg.level, ps, r.priorVersionsLocked(st, subject)); len(msgs) > 0 {
			return 0, nil, newError(CodeIncompatibleSchema,
				"Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}

	newVersion := st.maxVersion(subject) + 1
	version := req.Version
	switch {
	case version <= 0:
		version = newVersion
	case importing:
		if e := st.subjects[subject][version]; e != nil {
			if e.id == req.ID && st.ids[e.id].key == ps.key {
				return e.id, nil, nil // imported before
			}
			return 0, nil, errNotPermitted("Overwrite of version %d of subject %s in context %s is not permitted.", version, subject, contextName)
		}
	case version != newVersion:
		return 0, nil, errInvalidSchema("Version is not one more than previous version")
	}

	if schemaID < 0 {
		if req.ID > 0 {
			if se := st.ids[req.ID]; se != nil && se.key != ps.key {
				return 0, nil, errNotPermitted("Overwrite new schema with id %d in context %s is not permitted.", req.ID, contextName)
			}
			schemaID = req.ID
		} else {
			if st.maxID == 1<<31-1 {
				return 0, nil, fmt.Errorf("schema ids exhausted")
			}
			schemaID = st.maxID + 1
		}
	}

	p := &plan{}
	// Confluent's rule: re-registering a schema that was soft-deleted from this subject removes
	// the older soft-deleted version with the same id (unless another schema references it).
	for _, e := range st.versions(subject, true) {
		if e.deleted && e.id == schemaID && e.version < version && len(st.referencedBy(subject, e.version, true)) == 0 {
			p.records = append(p.records, storeRecord{Key: schemaKeyBytes(subject, e.version)})
		}
	}
	v := schemaValueOf(subject, version, schemaID, ps, false)
	p.records = append(p.records, schemaRecord(v))
	p.expect = append(p.expect, v)
	return schemaID, p, nil
}

// checkSubjectName refuses subject names Confluent refuses: empty, or with control characters.
func checkSubjectName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errInvalidSubject(s)
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return errInvalidSubject(s)
		}
	}
	return nil
}

// lookup is POST /subjects/{subject}: the version of subject holding the schema, if any.
func (r *Registry) lookup(subject string, req schemaRequest, includeDeleted bool) (subjectSchema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	typ, ok := normalizeType(req.SchemaType)
	if !ok {
		return subjectSchema{}, errInvalidSchema("Invalid schema type %s; supported types are AVRO, JSON and PROTOBUF", req.SchemaType)
	}
	if !st.hasSubject(subject, includeDeleted) {
		return subjectSchema{}, errSubjectNotFound(subject)
	}
	ps, err := parseSchema(typ, req.Schema, req.References, false, st.resolver())
	if err != nil {
		return subjectSchema{}, err
	}
	vs := st.versions(subject, includeDeleted)
	for i := len(vs) - 1; i >= 0; i-- {
		if st.ids[vs[i].id].key == ps.key {
			return st.subjectSchemaOf(vs[i]), nil
		}
	}
	return subjectSchema{}, errSchemaNotFound()
}

// deleteSubject is DELETE /subjects/{subject}: it returns the versions deleted.
func (r *Registry) deleteSubject(ctx context.Context, subject string, permanent bool) ([]int32, error) {
	var deleted []int32
	err := r.run(ctx, func(st *state) (*plan, error) {
		deleted = nil
		if !st.hasSubject(subject, true) {
			return nil, errSubjectNotFound(subject)
		}
		if !permanent && !st.hasSubject(subject, false) {
			return nil, newError(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
		}
		if m := st.modeInScope(subject); m == ModeReadOnly || m == ModeReadOnlyOverride {
			return nil, errNotPermitted("Subject %s in context %s is in read-only mode", subject, contextName)
		}
		vs := st.versions(subject, permanent)
		for _, e := range vs {
			for _, id := range st.referencedBy(subject, e.version, permanent) {
				for _, u := range st.usesOf(id, permanent) {
					if u.subject != subject {
						return nil, referenceExists(subject, e.version)
					}
				}
			}
			if permanent && !e.deleted {
				return nil, newError(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
			}
			deleted = append(deleted, e.version)
		}
		p := &plan{}
		if !permanent {
			last := vs[len(vs)-1].version
			p.records = append(p.records, storeRecord{
				Key:   deleteSubjectKeyBytes(subject),
				Value: mustJSON(deleteSubjectValue{Subject: subject, Version: last}),
			})
			return p, nil
		}
		p.records = append(p.records, maxIDRecord(st))
		for i := len(vs) - 1; i >= 0; i-- { // newest first: a version may reference an older one
			p.records = append(p.records, storeRecord{Key: schemaKeyBytes(subject, vs[i].version)})
		}
		p.records = append(p.records, subjectSettingsTombstones(st, subject)...)
		return p, nil
	})
	return deleted, err
}

// maxIDRecord is the NOOP record that keeps the largest schema id ever assigned through
// compaction (see records.go).
func maxIDRecord(st *state) storeRecord {
	return storeRecord{Key: noopKeyBytes(), Value: mustJSON(noopValue{MaxID: st.maxID})}
}

// subjectSettingsTombstones removes subject's config and mode, as Confluent does when a subject
// is permanently deleted.
func subjectSettingsTombstones(st *state, subject string) []storeRecord {
	var out []storeRecord
	if _, ok := st.configs[subject]; ok {
		out = append(out, storeRecord{Key: configKeyBytes(subject)})
	}
	if _, ok := st.modes[subject]; ok {
		out = append(out, storeRecord{Key: modeKeyBytes(subject)})
	}
	return out
}

func referenceExists(subject string, version int32) *Error {
	return newError(CodeReferenceExists, "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, version)
}

// deleteVersion is DELETE /subjects/{subject}/versions/{version}; version -1 is the latest.
func (r *Registry) deleteVersion(ctx context.Context, subject string, version int32, permanent bool) (int32, error) {
	var deleted int32
	err := r.run(ctx, func(st *state) (*plan, error) {
		var e *versionEntry
		if version == -1 {
			e = st.latest(subject)
		} else {
			e = st.subjects[subject][version]
		}
		if e == nil {
			if !st.hasSubject(subject, true) {
				return nil, errSubjectNotFound(subject)
			}
			return nil, errVersionNotFound(version)
		}
		if e.deleted && !permanent {
			return nil, newError(CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, e.version)
		}
		if m := st.modeInScope(subject); m == ModeReadOnly || m == ModeReadOnlyOverride {
			return nil, errNotPermitted("Subject %s in context %s is in read-only mode", subject, contextName)
		}
		if len(st.referencedBy(subject, e.version, permanent)) > 0 {
			return nil, referenceExists(subject, e.version)
		}
		if permanent && !e.deleted {
			return nil, newError(CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, e.version)
		}
		deleted = e.version
		p := &plan{}
		if !permanent {
			se := st.ids[e.id]
			v := schemaValue{Subject: subject, Version: e.version, ID: e.id, References: se.refs, Schema: se.text, Deleted: true}
			if se.typ != TypeAvro {
				v.SchemaType = string(se.typ)
			}
			p.records = append(p.records, schemaRecord(v))
			p.expect = append(p.expect, v)
			return p, nil
		}
		p.records = append(p.records, maxIDRecord(st), storeRecord{Key: schemaKeyBytes(subject, e.version)})
		if len(st.subjects[subject]) == 1 {
			p.records = append(p.records, subjectSettingsTombstones(st, subject)...)
		}
		return p, nil
	})
	return deleted, err
}

// configResponse is a config as GET /config shows it.
type configResponse struct {
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
	Normalize          *bool  `json:"normalize,omitempty"`
}

// configRequest is the body of PUT /config (and the answer to it).
type configRequest struct {
	Compatibility string `json:"compatibility,omitempty"`
	Normalize     *bool  `json:"normalize,omitempty"`
}

func configResponseOf(c configEntry) configResponse {
	return configResponse{CompatibilityLevel: string(c.level), Normalize: c.normalize}
}

// getConfig is GET /config and GET /config/{subject} ("" is the global config).
func (r *Registry) getConfig(subject string, defaultToGlobal bool) (configResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	if subject == "" {
		c := st.configs[""]
		if c.level == "" {
			c.level = r.cfg.DefaultCompatibility
		}
		return configResponseOf(c), nil
	}
	if defaultToGlobal {
		return configResponseOf(st.configInScope(subject, r.cfg.DefaultCompatibility)), nil
	}
	c, ok := st.configs[subject]
	if !ok {
		return configResponse{}, newError(CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return configResponseOf(c), nil
}

// setConfig is PUT /config and PUT /config/{subject}.
func (r *Registry) setConfig(ctx context.Context, subject string, req configRequest) (configRequest, error) {
	var level Level
	if req.Compatibility != "" {
		l, ok := parseLevel(req.Compatibility)
		if !ok {
			return configRequest{}, errInvalidCompat()
		}
		level = l
	} else if req.Normalize == nil {
		return configRequest{}, errInvalidCompat()
	}
	if subject != "" {
		if err := checkSubjectName(subject); err != nil {
			return configRequest{}, err
		}
	}
	var out configRequest
	err := r.run(ctx, func(st *state) (*plan, error) {
		c := st.configs[subject]
		if level != "" {
			c.level = level
		}
		if req.Normalize != nil {
			c.normalize = req.Normalize
		}
		out = configRequest{Compatibility: string(c.level), Normalize: c.normalize}
		return &plan{records: []storeRecord{{
			Key:   configKeyBytes(subject),
			Value: mustJSON(configValue{Subject: optSubject(subject), CompatibilityLevel: string(c.level), Normalize: c.normalize}),
		}}}, nil
	})
	return out, err
}

// deleteConfig is DELETE /config and DELETE /config/{subject}: it returns the config removed.
func (r *Registry) deleteConfig(ctx context.Context, subject string) (configResponse, error) {
	var old configResponse
	err := r.run(ctx, func(st *state) (*plan, error) {
		c, ok := st.configs[subject]
		if subject == "" {
			if c.level == "" {
				c.level = r.cfg.DefaultCompatibility
			}
		} else if !ok {
			return nil, errSubjectNotFound(subject)
		}
		old = configResponseOf(c)
		if !ok {
			return nil, nil
		}
		return &plan{records: []storeRecord{{Key: configKeyBytes(subject)}}}, nil
	})
	return old, err
}

// modeBody is the body and answer of the mode endpoints.
type modeBody struct {
	Mode string `json:"mode"`
}

// getMode is GET /mode and GET /mode/{subject}.
func (r *Registry) getMode(subject string, defaultToGlobal bool) (modeBody, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	if subject == "" || defaultToGlobal {
		return modeBody{Mode: st.modeInScope(subject)}, nil
	}
	m, ok := st.modes[subject]
	if !ok {
		return modeBody{}, newError(CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return modeBody{Mode: m}, nil
}

// setMode is PUT /mode and PUT /mode/{subject}.
func (r *Registry) setMode(ctx context.Context, subject, mode string, force bool) (modeBody, error) {
	m, ok := parseMode(mode)
	if !ok {
		return modeBody{}, errInvalidMode()
	}
	if m == ModeForward && subject != "" {
		return modeBody{}, newError(CodeInvalidMode, "Forward mode only supported on global level")
	}
	if subject != "" {
		if err := checkSubjectName(subject); err != nil {
			return modeBody{}, err
		}
	}
	err := r.run(ctx, func(st *state) (*plan, error) {
		if m == ModeImport && !force {
			nonEmpty := len(st.subjectNames(true)) > 0
			if subject != "" {
				nonEmpty = st.hasSubject(subject, true)
			}
			if nonEmpty {
				return nil, errNotPermitted("Cannot import since found existing subjects")
			}
		}
		return &plan{records: []storeRecord{{
			Key:   modeKeyBytes(subject),
			Value: mustJSON(modeValue{Subject: optSubject(subject), Mode: m}),
		}}}, nil
	})
	return modeBody{Mode: m}, err
}

// deleteMode is DELETE /mode and DELETE /mode/{subject}: it returns the mode removed.
func (r *Registry) deleteMode(ctx context.Context, subject string) (modeBody, error) {
	var old modeBody
	err := r.run(ctx, func(st *state) (*plan, error) {
		m, ok := st.modes[subject]
		if !ok {
			if subject != "" {
				return nil, errSubjectNotFound(subject)
			}
			old = modeBody{Mode: ModeReadWrite}
			return nil, nil
		}
		old = modeBody{Mode: m}
		return &plan{records: []storeRecord{{Key: modeKeyBytes(subject)}}}, nil
	})
	return old, err
}

// compatibilityResponse is the answer of the compatibility endpoints.
type compatibilityResponse struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// testCompatibility is POST /compatibility/subjects/{subject}/versions[/{version}]. version 0
// means "the versions the subject's level checks" (the path without a version), -1 the latest.
func (r *Registry) testCompatibility(subject string, version int32, req schemaRequest, normalize, verbose bool) (compatibilityResponse, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	var prior []priorVersion
	cfg := st.configInScope(subject, r.cfg.DefaultCompatibility)
	level := cfg.level
	switch {
	case version == 0:
		prior = r.priorVersionsLocked(st, subject)
	default:
		var e *versionEntry
		if version == -1 {
			e = st.latest(subject)
		} else if e = st.subjects[subject][version]; e != nil && e.deleted {
			e = nil
		}
		if e == nil && version != -1 {
			if !st.hasSubject(subject, false) {
				return compatibilityResponse{}, errSubjectNotFound(subject)
			}
			return compatibilityResponse{}, errVersionNotFound(version)
		}
		if e != nil {
			p, err := r.parsedByIDLocked(st, e.id)
			if err != nil {
				return compatibilityResponse{}, err
			}
			prior = []priorVersion{{version: e.version, schema: p}}
		}
	}
	typ, ok := normalizeType(req.SchemaType)
	var ps *parsedSchema
	var err error
	if !ok {
		err = errInvalidSchema("Invalid schema type %s; supported types are AVRO, JSON and PROTOBUF", req.SchemaType)
	} else {
		ps, err = parseSchema(typ, req.Schema, req.References, normalize || (cfg.normalize != nil && *cfg.normalize), st.resolver())
	}
	if err != nil {
		if verbose {
			return compatibilityResponse{IsCompatible: false, Messages: []string{asError(err).Message}}, nil
		}
		return compatibilityResponse{}, err
	}
	msgs := checkCompatibility(level, ps, prior)
	resp := compatibilityResponse{IsCompatible: len(msgs) == 0}
	if verbose {
		resp.Messages = msgs
	}
	return resp, nil
}
