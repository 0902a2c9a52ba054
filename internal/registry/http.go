package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// The REST API: Confluent Schema Registry's paths, query parameters, bodies and error bodies
// ({"error_code":N,"message":"..."}). Responses are application/vnd.schemaregistry.v1+json;
// request bodies are read as JSON whatever their declared content type (Confluent's clients
// send application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json or
// application/json).

// contentType is the media type of every response.
const contentType = "application/vnd.schemaregistry.v1+json"

// maxBodyBytes bounds a request body. A schema larger than the topic's max.message.bytes is
// refused later, when it is written (42209).
const maxBodyBytes = 16 << 20

// call is one request being served.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	vars map[string]string // path wildcards, unescaped
}

func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

// flag is a boolean query parameter: "true" in any letter case, as Jersey reads one.
func (c *call) flag(name string) bool { return strings.EqualFold(c.r.URL.Query().Get(name), "true") }

// decode reads the JSON body into v.
func (c *call) decode(v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(CodeSchemaTooLarge, "request body larger than %d bytes", maxBodyBytes)
		}
		return newError(CodeBadRequest, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newError(CodeBadRequest, "empty request body; a JSON object is required")
	}
	if err := strictUnmarshal(body, v); err != nil {
		return newError(CodeBadRequest, "request body is not the JSON this endpoint takes: %v", err)
	}
	return nil
}

// rawText marks a handler result sent as is (the /schema endpoints serve schema text).
type rawText string

// route is one endpoint: a method and a path whose "{name}" segments are wildcards.
type route struct {
	method  string
	path    []string
	handler func(r *Registry, c *call) (any, error)
}

func routeOf(method, path string, h func(r *Registry, c *call) (any, error)) route {
	return route{method: method, path: strings.Split(strings.Trim(path, "/"), "/"), handler: h}
}

var routes = []route{
	routeOf("GET", "/", func(*Registry, *call) (any, error) { return struct{}{}, nil }),
	routeOf("GET", "/contexts", func(*Registry, *call) (any, error) { return []string{contextName}, nil }),
	routeOf("GET", "/subjects", (*Registry).httpSubjects),
	routeOf("POST", "/subjects/{subject}", (*Registry).httpLookup),
	routeOf("DELETE", "/subjects/{subject}", (*Registry).httpDeleteSubject),
	routeOf("GET", "/subjects/{subject}/versions", (*Registry).httpVersions),
	routeOf("POST", "/subjects/{subject}/versions", (*Registry).httpRegister),
	routeOf("GET", "/subjects/{subject}/versions/{version}", (*Registry).httpVersion),
	routeOf("DELETE", "/subjects/{subject}/versions/{version}", (*Registry).httpDeleteVersion),
	routeOf("GET", "/subjects/{subject}/versions/{version}/schema", (*Registry).httpVersionSchema),
	routeOf("GET", "/subjects/{subject}/versions/{version}/referencedby", (*Registry).httpReferencedBy),
	routeOf("GET", "/schemas", (*Registry).httpSchemas),
	routeOf("GET", "/schemas/types", func(*Registry, *call) (any, error) {
		return []SchemaType{TypeJSON, TypeProtobuf, TypeAvro}, nil
	}),
	routeOf("GET", "/schemas/ids/{id}", (*Registry).httpSchemaByID),
	routeOf("GET", "/schemas/ids/{id}/schema", (*Registry).httpSchemaTextByID),
	routeOf("GET", "/schemas/ids/{id}/subjects", (*Registry).httpSubjectsByID),
	routeOf("GET", "/schemas/ids/{id}/versions", (*Registry).httpVersionsByID),
	routeOf("GET", "/config", (*Registry).httpGetConfig),
	routeOf("PUT", "/config", (*Registry).httpSetConfig),
	routeOf("DELETE", "/config", (*Registry).httpDeleteConfig),
	routeOf("GET", "/config/{subject}", (*Registry).httpGetConfig),
	routeOf("PUT", "/config/{subject}", (*Registry).httpSetConfig),
	routeOf("DELETE", "/config/{subject}", (*Registry).httpDeleteConfig),
	routeOf("GET", "/mode", (*Registry).httpGetMode),
	routeOf("PUT", "/mode", (*Registry).httpSetMode),
	routeOf("DELETE", "/mode", (*Registry).httpDeleteMode),
	routeOf("GET", "/mode/{subject}", (*Registry).httpGetMode),
	routeOf("PUT", "/mode/{subject}", (*Registry).httpSetMode),
	routeOf("DELETE", "/mode/{subject}", (*Registry).httpDeleteMode),
	routeOf("POST", "/compatibility/subjects/{subject}/versions", (*Registry).httpCompatibility),
	routeOf("POST", "/compatibility/subjects/{subject}/versions/{version}", (*Registry).httpCompatibility),
}

// Handler returns the REST API handler.
func (r *Registry) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			r.log.Error("schema registry: handler panic", "method", req.Method, "path", req.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, &Error{Status: http.StatusInternalServerError, Code: CodeStoreError, Message: fmt.Sprintf("internal error: %v", v)})
		}
	}()
	segs, err := splitPath(req.URL.EscapedPath())
	if err != nil {
		writeError(w, newError(http.StatusNotFound, "HTTP 404 Not Found"))
		return
	}
	var allowed []string
	for _, rt := range routes {
		vars, ok := match(rt.path, segs)
		if !ok {
			continue
		}
		if rt.method != req.Method && !(rt.method == "GET" && req.Method == "HEAD") {
			allowed = append(allowed, rt.method)
			continue
		}
		res, err := rt.handler(r, &call{w: w, r: req, vars: vars})
		if err != nil {
			e := asError(err)
			if e.Status >= 500 {
				r.log.Warn("schema registry: request failed", "method", req.Method, "path", req.URL.Path, "err", err)
			}
			writeError(w, e)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if s, ok := res.(rawText); ok {
			io.WriteString(w, string(s))
			return
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(res)
		return
	}
	if len(allowed) > 0 {
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(slices.Compact(allowed), ", "))
		writeError(w, newError(http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed"))
		return
	}
	writeError(w, newError(http.StatusNotFound, "HTTP 404 Not Found"))
}

// splitPath splits an escaped URL path into unescaped segments, ignoring empty ones (so a
// trailing slash does not matter). A subject name may hold an escaped slash (%2F).
func splitPath(escaped string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func match(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) == 1 && pattern[0] == "" {
		pattern = nil
	}
	if len(pattern) != len(segs) {
		return nil, false
	}
	var vars map[string]string
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if vars == nil {
				vars = make(map[string]string)
			}
			vars[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return vars, true
}

type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(errorBody{ErrorCode: e.Code, Message: e.Message})
}

// parseVersion reads a {version} path segment: "latest" or -1 is -1 (the latest), else a number
// in [1, 2^31-1]; anything else is 42202.
func parseVersion(s string) (int32, error) {
	if strings.EqualFold(s, "latest") {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v == 0 || v < -1 {
		return 0, errInvalidVersion(s)
	}
	return int32(v), nil
}

// parseID reads a {id} path segment; a non-number is a 404 (Jersey's answer for a path
// parameter that does not convert), a number that is no id a 40403.
func parseID(s string) (int32, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, newError(http.StatusNotFound, "HTTP 404 Not Found")
	}
	return int32(v), nil
}

func (r *Registry) httpSubjects(c *call) (any, error) {
	prefix := c.query("subjectPrefix")
	deleted, deletedOnly := c.flag("deleted"), c.flag("deletedOnly")
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	out := []string{}
	for _, name := range st.subjectNames(true) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		switch {
		case deletedOnly:
			if slices.ContainsFunc(st.versions(name, true), func(e *versionEntry) bool { return e.deleted }) {
				out = append(out, name)
			}
		case deleted || st.hasSubject(name, false):
			out = append(out, name)
		}
	}
	return out, nil
}

func (r *Registry) httpLookup(c *call) (any, error) {
	var req schemaRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return r.lookup(c.vars["subject"], req, c.flag("deleted") || c.flag("lookupDeletedSchema"))
}

func (r *Registry) httpDeleteSubject(c *call) (any, error) {
	vs, err := r.deleteSubject(c.r.Context(), c.vars["subject"], c.flag("permanent"))
	if err != nil {
		return nil, err
	}
	return vs, nil
}

func (r *Registry) httpVersions(c *call) (any, error) {
	subject := c.vars["subject"]
	deleted, deletedOnly := c.flag("deleted"), c.flag("deletedOnly")
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	out := []int32{}
	for _, e := range st.versions(subject, deleted || deletedOnly) {
		if !deletedOnly || e.deleted {
			out = append(out, e.version)
		}
	}
	if len(out) == 0 && !st.hasSubject(subject, deleted || deletedOnly) {
		return nil, errSubjectNotFound(subject)
	}
	return out, nil
}

func (r *Registry) httpRegister(c *call) (any, error) {
	var req schemaRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	id, err := r.register(c.r.Context(), c.vars["subject"], req, c.flag("normalize"), c.flag("force"))
	if err != nil {
		return nil, err
	}
	return struct {
		ID int32 `json:"id"`
	}{id}, nil
}

// versionEntryFor finds {subject}/versions/{version} for the read endpoints.
func (r *Registry) versionEntryLocked(c *call) (*versionEntry, error) {
	subject := c.vars["subject"]
	version, err := parseVersion(c.vars["version"])
	if err != nil {
		return nil, err
	}
	deleted := c.flag("deleted")
	st := r.mu.st
	var e *versionEntry
	if version == -1 {
		if e = st.latest(subject); e == nil && deleted {
			if vs := st.versions(subject, true); len(vs) > 0 {
				e = vs[len(vs)-1]
			}
		}
	} else if e = st.subjects[subject][version]; e != nil && e.deleted && !deleted {
		e = nil
	}
	if e == nil {
		if !st.hasSubject(subject, deleted) {
			return nil, errSubjectNotFound(subject)
		}
		return nil, errVersionNotFound(version)
	}
	return e, nil
}

func (r *Registry) httpVersion(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.versionEntryLocked(c)
	if err != nil {
		return nil, err
	}
	ss := r.mu.st.subjectSchemaOf(e)
	ss.Deleted = false // Confluent shows the schema, not the flag
	return ss, nil
}

func (r *Registry) httpVersionSchema(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.versionEntryLocked(c)
	if err != nil {
		return nil, err
	}
	return rawText(r.mu.st.ids[e.id].text), nil
}

func (r *Registry) httpReferencedBy(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, err := r.versionEntryLocked(c)
	if err != nil {
		return nil, err
	}
	ids := r.mu.st.referencedBy(e.subject, e.version, c.flag("deleted"))
	if ids == nil {
		ids = []int32{}
	}
	return ids, nil
}

func (r *Registry) httpDeleteVersion(c *call) (any, error) {
	version, err := parseVersion(c.vars["version"])
	if err != nil {
		return nil, err
	}
	return r.deleteVersion(c.r.Context(), c.vars["subject"], version, c.flag("permanent"))
}

func (r *Registry) httpSchemas(c *call) (any, error) {
	prefix := c.query("subjectPrefix")
	deleted, latestOnly := c.flag("deleted"), c.flag("latestOnly")
	offset, _ := strconv.Atoi(c.query("offset"))
	limit, _ := strconv.Atoi(c.query("limit"))
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	out := []subjectSchema{}
	for _, name := range st.subjectNames(true) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		vs := st.versions(name, deleted)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, e := range vs {
			ss := st.subjectSchemaOf(e)
			ss.Deleted = false
			out = append(out, ss)
		}
	}
	if offset > 0 {
		out = out[min(offset, len(out)):]
	}
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out, nil
}

// schemaByIDResponse is GET /schemas/ids/{id}.
type schemaByIDResponse struct {
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	MaxID      *int32      `json:"maxId,omitempty"`
}

func (r *Registry) schemaEntryLocked(c *call) (*schemaEntry, error) {
	id, err := parseID(c.vars["id"])
	if err != nil {
		return nil, err
	}
	se := r.mu.st.ids[id]
	if se == nil {
		return nil, errSchemaIDNotFound(id)
	}
	if subject := c.query("subject"); subject != "" && len(r.mu.st.usesOf(id, true)) > 0 {
		found := false
		for _, u := range r.mu.st.usesOf(id, true) {
			found = found || u.subject == subject
		}
		if !found {
			return nil, errSchemaIDNotFound(id)
		}
	}
	return se, nil
}

func (r *Registry) httpSchemaByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	se, err := r.schemaEntryLocked(c)
	if err != nil {
		return nil, err
	}
	resp := schemaByIDResponse{References: se.refs, Schema: se.text}
	if se.typ != TypeAvro {
		resp.SchemaType = string(se.typ)
	}
	if c.flag("fetchMaxId") {
		m := r.mu.st.maxID
		resp.MaxID = &m
	}
	return resp, nil
}

func (r *Registry) httpSchemaTextByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	se, err := r.schemaEntryLocked(c)
	if err != nil {
		return nil, err
	}
	return rawText(se.text), nil
}

// subjectVersion is an element of GET /schemas/ids/{id}/versions.
type subjectVersion struct {
	Subject string `json:"subject"`
	Version int32  `json:"version"`
}

func (r *Registry) usesLocked(c *call) ([]*versionEntry, error) {
	se, err := r.schemaEntryLocked(c)
	if err != nil {
		return nil, err
	}
	uses := r.mu.st.usesOf(se.id, c.flag("deleted"))
	if subject := c.query("subject"); subject != "" {
		uses = slices.DeleteFunc(uses, func(e *versionEntry) bool { return e.subject != subject })
	}
	if len(uses) == 0 {
		return nil, errSchemaIDNotFound(se.id)
	}
	return uses, nil
}

func (r *Registry) httpSubjectsByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	uses, err := r.usesLocked(c)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, e := range uses {
		if len(out) == 0 || out[len(out)-1] != e.subject {
			out = append(out, e.subject)
		}
	}
	return out, nil
}

func (r *Registry) httpVersionsByID(c *call) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	uses, err := r.usesLocked(c)
	if err != nil {
		return nil, err
	}
	out := make([]subjectVersion, len(uses))
	for i, e := range uses {
		out[i] = subjectVersion{Subject: e.subject, Version: e.version}
	}
	return out, nil
}

func (r *Registry) httpGetConfig(c *call) (any, error) {
	return r.getConfig(c.vars["subject"], c.flag("defaultToGlobal"))
}

func (r *Registry) httpSetConfig(c *call) (any, error) {
	var req configRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return r.setConfig(c.r.Context(), c.vars["subject"], req)
}

func (r *Registry) httpDeleteConfig(c *call) (any, error) {
	return r.deleteConfig(c.r.Context(), c.vars["subject"])
}

func (r *Registry) httpGetMode(c *call) (any, error) {
	return r.getMode(c.vars["subject"], c.flag("defaultToGlobal"))
}

func (r *Registry) httpSetMode(c *call) (any, error) {
	var req modeBody
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return r.setMode(c.r.Context(), c.vars["subject"], req.Mode, c.flag("force"))
}

func (r *Registry) httpDeleteMode(c *call) (any, error) {
	return r.deleteMode(c.r.Context(), c.vars["subject"])
}

func (r *Registry) httpCompatibility(c *call) (any, error) {
	var version int32
	if v, ok := c.vars["version"]; ok {
		var err error
		if version, err = parseVersion(v); err != nil {
			return nil, err
		}
	}
	var req schemaRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return r.testCompatibility(c.vars["subject"], version, req, c.flag("normalize"), c.flag("verbose"))
}
