package serde

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultRegistryURL is the registry a zero RegistryConfig talks to: the
// Confluent convention of port 8081 on the local host.
const DefaultRegistryURL = "http://127.0.0.1:8081"

// DefaultRegistryTimeout bounds each registry request when
// RegistryConfig.Timeout is zero.
const DefaultRegistryTimeout = 10 * time.Second

// Limits on the references a registry may make us follow for one schema, so
// that a broken or hostile registry cannot send us around a loop.
const (
	maxReferenceDepth = 32
	maxReferences     = 1000
)

// RegistryConfig configures a Registry. The zero value talks to
// DefaultRegistryURL without authentication.
type RegistryConfig struct {
	// URLs of the registry (http:// or https://; a bare host:port gets
	// http://). Requests go to the first and fail over to the others on
	// transport errors. Empty means DefaultRegistryURL.
	URLs []string

	// Timeout bounds every registry request (it is the HTTP client's
	// timeout), and the calls of Coder methods, which take no context. Zero
	// means DefaultRegistryTimeout.
	Timeout time.Duration

	// Username and Password, when Username is set, are sent as HTTP basic
	// authentication (Confluent's basic.auth.user.info).
	Username, Password string

	// HTTPClient, when set, is used instead of a default client; its own
	// timeout then applies to requests, and Timeout only to Coder calls.
	HTTPClient *http.Client
}

// Validate reports a configuration that cannot work: a URL that does not
// parse as http(s) or a negative timeout.
func (c RegistryConfig) Validate() error {
	for _, u := range c.URLs {
		s := u
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		p, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("serde: registry URL %q: %w", u, err)
		}
		if p.Scheme != "http" && p.Scheme != "https" {
			return fmt.Errorf("serde: registry URL %q: scheme %q, want http or https", u, p.Scheme)
		}
		if p.Host == "" {
			return fmt.Errorf("serde: registry URL %q has no host", u)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("serde: registry timeout %v is negative", c.Timeout)
	}
	return nil
}

// Reference names a schema that another schema uses by name (a Confluent
// schema reference): Name is the full name of the Avro type it defines,
// Subject and Version where the registry keeps it.
type Reference struct {
	Name    string
	Subject string
	Version int
}

// Registered identifies one schema in the registry: its global id and the
// subject and version it is registered under.
type Registered struct {
	Subject string
	Version int
	ID      int
}

// Registry is a schema-registry client that caches what it learns: the id
// and version of a schema under a subject are asked for once, and the writer
// schema of an id is fetched and parsed once. Concurrent requests for the
// same thing share one round trip. Failures are not cached; the next call
// asks again. A Registry is safe for concurrent use; share one per process.
type Registry struct {
	cl      *sr.Client
	timeout time.Duration

	mu struct {
		sync.Mutex
		subjects map[subjectKey]*flight[Registered]
		ids      map[int]*flight[*avro.Schema]
		texts    map[int]*flight[SchemaText]
		protos   map[int]*flight[protoreflect.FileDescriptor]
		jsons    map[int]*flight[*jsonschema.Schema]
	}
}

// subjectKey identifies a register or lookup of one schema text under one
// subject.
type subjectKey struct {
	subject, schema, refs string
	typ                   sr.SchemaType
	register              bool
}

// flight is one fetch that concurrent callers share; done closes once v and
// err are set.
type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// NewRegistry returns a registry client. It does not contact the registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultRegistryTimeout
	}
	urls := slices.Clone(cfg.URLs) // sr.URLs rewrites its argument
	if len(urls) == 0 {
		urls = []string{DefaultRegistryURL}
	}
	httpcl := cfg.HTTPClient
	if httpcl == nil {
		httpcl = &http.Client{Timeout: timeout}
	}
	opts := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(httpcl), sr.UserAgent("samsa-serde")}
	if cfg.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.Username, cfg.Password))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("serde: registry client: %w", err)
	}
	r := &Registry{cl: cl, timeout: timeout}
	r.mu.subjects = make(map[subjectKey]*flight[Registered])
	r.mu.ids = make(map[int]*flight[*avro.Schema])
	r.mu.texts = make(map[int]*flight[SchemaText])
	r.mu.protos = make(map[int]*flight[protoreflect.FileDescriptor])
	r.mu.jsons = make(map[int]*flight[*jsonschema.Schema])
	return r, nil
}

// Client is the underlying franz-go registry client, for the parts of the
// REST API this package does not wrap (subjects, configs, deletes). Its
// calls are not cached.
func (r *Registry) Client() *sr.Client { return r.cl }

// Register returns the id and version of an Avro schema under subject,
// registering it if the subject does not have it yet (Confluent's
// auto.register.schemas). It first looks the schema up, so a schema already
// registered needs no write permission. The answer is cached. A schema the
// registry refuses (invalid, or incompatible with the subject's earlier
// versions) is an error wrapping the registry's *sr.ResponseError.
func (r *Registry) Register(ctx context.Context, subject, schema string, refs ...Reference) (Registered, error) {
	return r.subjectSchema(ctx, subject, sr.TypeAvro, schema, refs, true)
}

// Lookup returns the id and version of an Avro schema already registered
// under subject, without registering it (auto.register.schemas=false). A
// schema the subject does not have is an error wrapping the registry's
// *sr.ResponseError (error code 40401 or 40403). The answer is cached.
func (r *Registry) Lookup(ctx context.Context, subject, schema string, refs ...Reference) (Registered, error) {
	return r.subjectSchema(ctx, subject, sr.TypeAvro, schema, refs, false)
}

func (r *Registry) subjectSchema(ctx context.Context, subject string, typ sr.SchemaType, schema string, refs []Reference, register bool) (Registered, error) {
	if subject == "" {
		return Registered{}, errors.New("serde: empty subject")
	}
	key := subjectKey{subject: subject, schema: schema, refs: refsKey(refs), typ: typ, register: register}
	return share(ctx, r, r.mu.subjects, key, func(ctx context.Context) (Registered, error) {
		s := sr.Schema{Schema: schema, Type: typ, References: srRefs(refs)}
		ss, err := r.cl.LookupSchema(ctx, subject, s)
		if err != nil && register && isNotFound(err) {
			if _, err = r.cl.RegisterSchema(ctx, subject, s, -1, -1); err != nil {
				return Registered{}, fmt.Errorf("serde: register schema under subject %s: %w", subject, err)
			}
			// Registering answers only the id; the lookup adds the version.
			ss, err = r.cl.LookupSchema(ctx, subject, s)
		}
		if err != nil {
			return Registered{}, fmt.Errorf("serde: look up schema under subject %s: %w", subject, err)
		}
		if ss.ID < 0 || ss.ID > MaxSchemaID {
			return Registered{}, fmt.Errorf("serde: registry gave schema id %d under subject %s, out of range", ss.ID, subject)
		}
		return Registered{Subject: subject, Version: ss.Version, ID: ss.ID}, nil
	})
}

// SchemaByID returns the parsed Avro schema registered with id: the writer
// schema of data framed with that id. Schemas it references are fetched and
// parsed with it. The answer is cached. An id the registry does not know is
// an error wrapping its *sr.ResponseError (error code 40403); a schema that
// is not Avro is an error too.
func (r *Registry) SchemaByID(ctx context.Context, id int) (*avro.Schema, error) {
	return share(ctx, r, r.mu.ids, id, func(ctx context.Context) (*avro.Schema, error) {
		s, err := r.cl.SchemaByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("serde: fetch schema id %d: %w", id, err)
		}
		if s.Type != sr.TypeAvro {
			return nil, fmt.Errorf("serde: schema id %d is %s, not Avro", id, s.Type)
		}
		parsed, err := r.parse(ctx, s.Schema, s.References)
		if err != nil {
			return nil, fmt.Errorf("serde: schema id %d: %w", id, err)
		}
		return parsed, nil
	})
}

// parse parses an Avro schema after the schemas it references (and theirs,
// depth first), all fetched from the registry, so that it can use their
// named types.
func (r *Registry) parse(ctx context.Context, schema string, refs []sr.SchemaReference) (*avro.Schema, error) {
	var (
		cache avro.SchemaCache
		seen  = map[sr.SchemaReference]bool{}
		load  func(refs []sr.SchemaReference, depth int) error
	)
	load = func(refs []sr.SchemaReference, depth int) error {
		if depth > maxReferenceDepth {
			return fmt.Errorf("references nest deeper than %d", maxReferenceDepth)
		}
		for _, ref := range refs {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			if len(seen) > maxReferences {
				return fmt.Errorf("more than %d references", maxReferences)
			}
			ss, err := r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
			if err != nil {
				return fmt.Errorf("reference %s (subject %s version %d): %w", ref.Name, ref.Subject, ref.Version, err)
			}
			if ss.Type != sr.TypeAvro {
				return fmt.Errorf("reference %s (subject %s version %d) is %s, not Avro", ref.Name, ref.Subject, ref.Version, ss.Type)
			}
			if err := load(ss.References, depth+1); err != nil {
				return err
			}
			if _, err := cache.Parse(ss.Schema.Schema); err != nil {
				return fmt.Errorf("reference %s (subject %s version %d): %w", ref.Name, ref.Subject, ref.Version, err)
			}
		}
		return nil
	}
	if err := load(refs, 0); err != nil {
		return nil, err
	}
	return cache.Parse(schema)
}

// share runs fetch for key once among concurrent callers and caches its
// success in m. The caller that finds no entry fetches with its own
// context; the others wait for it or for their own context. When the fetch
// fails because the fetching caller's context ended, waiters whose context
// is still live try again rather than inherit that caller's cancellation.
func share[K comparable, V any](ctx context.Context, r *Registry, m map[K]*flight[V], key K, fetch func(context.Context) (V, error)) (V, error) {
	for {
		r.mu.Lock()
		f := m[key]
		if f == nil {
			f = &flight[V]{done: make(chan struct{})}
			m[key] = f
			r.mu.Unlock()
			f.v, f.err = fetch(ctx)
			if f.err != nil {
				r.mu.Lock()
				delete(m, key)
				r.mu.Unlock()
			}
			close(f.done)
			return f.v, f.err
		}
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		if f.err != nil && ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
			continue
		}
		return f.v, f.err
	}
}

// isNotFound reports whether err is the registry saying the subject or the
// schema under it does not exist.
func isNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && sr.IsNotFoundError(re.ErrorCode)
}

func srRefs(refs []Reference) []sr.SchemaReference {
	if len(refs) == 0 {
		return nil
	}
	out := make([]sr.SchemaReference, len(refs))
	for i, ref := range refs {
		out[i] = sr.SchemaReference{Name: ref.Name, Subject: ref.Subject, Version: ref.Version}
	}
	return out
}

// refsKey is a cache key for a reference list.
func refsKey(refs []Reference) string {
	var b strings.Builder
	for _, ref := range refs {
		b.WriteString(ref.Name)
		b.WriteByte(0)
		b.WriteString(ref.Subject)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(ref.Version))
		b.WriteByte(0)
	}
	return b.String()
}
