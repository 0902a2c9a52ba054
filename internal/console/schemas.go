package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// avroSchema is a parsed Avro writer schema.
type avroSchema struct{ s *avro.Schema }

func (a *avroSchema) toJSON(data []byte) (string, error) {
	var native any
	rest, err := a.s.Decode(data, &native, avro.TaggedUnions())
	if err != nil {
		return "", err
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("%d bytes left after the Avro datum", len(rest))
	}
	out, err := a.s.AppendEncodeJSON(nil, native, avro.TaggedUnions())
	return string(out), err
}

// schemaEntry is a cached schema id.
type schemaEntry struct {
	ref  SchemaRef
	avro *avroSchema
}

const maxSchemaCache = 10_000

// schemaInfo returns the type, subject and version of a schema id (and the parsed schema
// for Avro), cached: an id's schema never changes.
func (c *Console) schemaInfo(ctx context.Context, id int) (SchemaRef, *schemaEntry, error) {
	c.schemas.Lock()
	e, ok := c.schemas.m[id]
	c.schemas.Unlock()
	if ok {
		return e.ref, e, nil
	}
	var sch struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := c.registryGet(ctx, "/schemas/ids/"+strconv.Itoa(id), &sch); err != nil {
		var re *registryError
		if errors.As(err, &re) && re.Status == http.StatusNotFound {
			return SchemaRef{}, nil, errNotRegistered
		}
		return SchemaRef{}, nil, err
	}
	e = &schemaEntry{ref: SchemaRef{ID: id, Type: sch.SchemaType}}
	if e.ref.Type == "" {
		e.ref.Type = "AVRO"
	}
	var versions []struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	if err := c.registryGet(ctx, "/schemas/ids/"+strconv.Itoa(id)+"/versions", &versions); err == nil && len(versions) > 0 {
		e.ref.Subject, e.ref.Version = versions[0].Subject, versions[0].Version
	}
	if e.ref.Type == "AVRO" {
		s, err := c.reg.SchemaByID(ctx, id) // resolves references
		if err != nil {
			return e.ref, nil, err
		}
		e.avro = &avroSchema{s}
	}
	c.schemas.Lock()
	if len(c.schemas.m) < maxSchemaCache {
		c.schemas.m[id] = e
	}
	c.schemas.Unlock()
	return e.ref, e, nil
}

// registryError is a registry's error answer.
type registryError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *registryError) Error() string {
	return fmt.Sprintf("schema registry: %s (error %d, HTTP %d)", e.Message, e.Code, e.Status)
}

var errNoRegistry = &httpError{status: http.StatusNotFound, msg: "this node runs no schema registry (--registry-addr off)"}

func (c *Console) registryDo(ctx context.Context, method, path string, body, out any) error {
	if c.cfg.RegistryURL == "" {
		return errNoRegistry
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.RegistryURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := c.regHC.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		re := &registryError{Status: resp.StatusCode}
		if json.Unmarshal(data, re) != nil || re.Message == "" {
			re.Message = strings.TrimSpace(string(data))
		}
		return re
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (c *Console) registryGet(ctx context.Context, path string, out any) error {
	return c.registryDo(ctx, http.MethodGet, path, nil, out)
}

// registryStatus maps a registry's answer to the console's: its 4xx pass through.
func registryStatus(err error) error {
	var re *registryError
	if errors.As(err, &re) && re.Status/100 == 4 {
		return &httpError{status: re.Status, msg: re.Message}
	}
	return err
}

func validSubject(s string) error {
	if s == "" || len(s) > 1024 || strings.ContainsAny(s, "\x00\n\r") {
		return badRequest("subject %q: want 1 to 1024 characters without control characters", truncate(s, 100))
	}
	return nil
}

// SubjectInfo is one subject with its versions and compatibility level.
type SubjectInfo struct {
	Subject       string `json:"subject"`
	Versions      []int  `json:"versions"`
	Compatibility string `json:"compatibility"`
}

func (c *Console) subjects(ctx context.Context) ([]string, error) {
	var out []string
	err := c.registryGet(ctx, "/subjects", &out)
	visible := out[:0]
	for _, s := range out {
		if c.may(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, subjectTopic(s)) {
			visible = append(visible, s)
		}
	}
	return visible, registryStatus(err)
}

func (c *Console) subject(ctx context.Context, s string) (SubjectInfo, error) {
	if err := validSubject(s); err != nil {
		return SubjectInfo{}, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationDescribe, subjectTopic(s)); err != nil {
		return SubjectInfo{}, err
	}
	si := SubjectInfo{Subject: s}
	if err := c.registryGet(ctx, "/subjects/"+url.PathEscape(s)+"/versions", &si.Versions); err != nil {
		return si, registryStatus(err)
	}
	var cfg struct {
		Level string `json:"compatibilityLevel"`
	}
	if err := c.registryGet(ctx, "/config/"+url.PathEscape(s)+"?defaultToGlobal=true", &cfg); err == nil {
		si.Compatibility = cfg.Level
	}
	return si, nil
}

// SchemaVersion is one registered version of a subject.
type SchemaVersion struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType string `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
}

func (c *Console) schemaVersion(ctx context.Context, s, version string) (SchemaVersion, error) {
	if err := validSubject(s); err != nil {
		return SchemaVersion{}, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationDescribe, subjectTopic(s)); err != nil {
		return SchemaVersion{}, err
	}
	if version != "latest" {
		if n, err := strconv.Atoi(version); err != nil || n < 1 {
			return SchemaVersion{}, badRequest("version %q: want a positive number or latest", truncate(version, 50))
		}
	}
	var sv SchemaVersion
	err := c.registryGet(ctx, "/subjects/"+url.PathEscape(s)+"/versions/"+version, &sv)
	if sv.SchemaType == "" {
		sv.SchemaType = "AVRO"
	}
	return sv, registryStatus(err)
}

// CompatibilityRequest is a schema to check against a subject (and optionally register).
type CompatibilityRequest struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"`
}

// CompatibilityResult says whether a schema may be registered under a subject.
type CompatibilityResult struct {
	Compatible bool     `json:"is_compatible"`
	Messages   []string `json:"messages,omitempty"`
}

func validSchemaReq(req CompatibilityRequest) error {
	if strings.TrimSpace(req.Schema) == "" {
		return badRequest("schema: empty")
	}
	switch req.SchemaType {
	case "", "AVRO", "JSON", "PROTOBUF":
	default:
		return badRequest("schemaType %q: want AVRO, JSON or PROTOBUF", truncate(req.SchemaType, 50))
	}
	return nil
}

func (c *Console) checkCompatibility(ctx context.Context, s string, req CompatibilityRequest) (CompatibilityResult, error) {
	if err := validSubject(s); err != nil {
		return CompatibilityResult{}, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationDescribe, subjectTopic(s)); err != nil {
		return CompatibilityResult{}, err
	}
	if err := validSchemaReq(req); err != nil {
		return CompatibilityResult{}, err
	}
	var out CompatibilityResult
	err := c.registryDo(ctx, http.MethodPost, "/compatibility/subjects/"+url.PathEscape(s)+"/versions?verbose=true", req, &out)
	var re *registryError
	if errors.As(err, &re) && re.Status == http.StatusNotFound && re.Code == 40401 {
		return CompatibilityResult{Compatible: true, Messages: []string{"the subject has no versions yet: any valid schema can be registered"}}, nil
	}
	return out, registryStatus(err)
}

func (c *Console) registerSchema(ctx context.Context, s string, req CompatibilityRequest) (int, error) {
	if err := validSubject(s); err != nil {
		return 0, err
	}
	if err := c.needTopic(ctx, kmsg.ACLOperationWrite, subjectTopic(s)); err != nil {
		return 0, err
	}
	if err := validSchemaReq(req); err != nil {
		return 0, err
	}
	var out struct {
		ID int `json:"id"`
	}
	err := c.registryDo(ctx, http.MethodPost, "/subjects/"+url.PathEscape(s)+"/versions", req, &out)
	return out.ID, registryStatus(err)
}

// DiffLine is one line of a diff: op is " ", "-" or "+".
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

const maxDiffLines = 3000

// diffLines is a line diff (longest common subsequence) of a and b, schemas pretty-printed
// first so that one-line JSON schemas diff by field.
func diffLines(a, b string) []DiffLine {
	al, bl := strings.Split(pretty(a), "\n"), strings.Split(pretty(b), "\n")
	if len(al) > maxDiffLines || len(bl) > maxDiffLines {
		return []DiffLine{{Op: " ", Text: "(schemas too long to diff)"}}
	}
	n, m := len(al), len(bl)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []DiffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case al[i] == bl[j]:
			out = append(out, DiffLine{" ", al[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{"-", al[i]})
			i++
		default:
			out = append(out, DiffLine{"+", bl[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{"-", al[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{"+", bl[j]})
	}
	return out
}

func pretty(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") == nil {
		return buf.String()
	}
	return s
}
