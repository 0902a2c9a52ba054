package kafkarun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/stream"
)

// TableServer serves the tables of a running application over HTTP, from any instance, as
// Kafka Streams' interactive queries do with application.server:
//
//	GET /stores/<store>/keys/<key>               one key: 200 with the value, 404 if absent
//	GET /stores/<store>/keys?prefix=P&from=A&to=B&limit=N
//	                                             a scan over every instance, keys in order
//
// <store> is the table's transform name (stream.Table.Name). A key is placed on its task as
// Lookup places it; when another instance runs that task, the request is forwarded to that
// instance's Config.ApplicationServer (advertised through the consumer group), and its
// answer returned; when the owner is unknown (the task is moving) or does not answer, an
// instance keeping a standby copy of the task (Config.Standbys) answers from it, flagged
// "stale": true. A scan asks every instance that runs tasks for its own rows and merges
// them; an instance that cannot be reached makes the answer "partial": true rather than an
// error. Values are encoded as JSON (encoding/json of the table's value type); keys appear as
// the text the ParseKey/FormatKey pair of ServeTable gives them.
//
// Answers are JSON objects: {"store","key","value","task","instance"} for a key,
// {"store","rows":[{"key","value","task"}],"partial","instances"} for a scan, and
// {"error": "..."} with a 4xx or 5xx status otherwise (404 unknown store or key, 400 a bad key
// or parameter, 503 while the key's task is moving between instances or the application is
// not running, 502 when the owning instance does not answer).
type TableServer struct {
	a      *App
	client *http.Client

	mu     sync.RWMutex
	tables map[string]servedTable
}

// servedTable is one table's type-erased query functions.
type servedTable struct {
	// get answers one key held by this instance: task, value, present.
	get func(key string) (int32, any, bool, error)
	// getStandby answers one key from this instance's standby copy of its task.
	getStandby func(key string) (int32, any, bool, error)
	// rows returns this instance's rows, key text -> (task, value).
	rows func() (map[string]tableRow, error)
}

type tableRow struct {
	Task  int32
	Value any
}

// NewTableServer returns a server for a's tables; register them with ServeTable and serve it
// on the address a's Config.ApplicationServer names.
func NewTableServer(a *App) *TableServer {
	return &TableServer{a: a, tables: map[string]servedTable{},
		client: &http.Client{Timeout: 10 * time.Second}}
}

// KeyFormat turns a table's keys into URL text and back. For string keys the zero value works
// (the text is the key); other key types must set both functions.
type KeyFormat[K comparable] struct {
	Parse  func(string) (K, error)
	Format func(K) string
	// Coder encodes the key as the table's input topic does, which places it on its task;
	// default stream.CoderFor[K] (as Lookup uses).
	Coder stream.Coder[K]
}

// ServeTable registers table t under its name. It fails if a table of that name is
// registered already or if the key type needs a KeyFormat it did not get.
func ServeTable[K comparable, V any](s *TableServer, t stream.Table[K, V], kf KeyFormat[K]) error {
	if kf.Parse == nil || kf.Format == nil {
		var zero K
		if _, ok := any(zero).(string); !ok {
			return fmt.Errorf("%w: table %s has %T keys: KeyFormat needs Parse and Format", ErrConfig, t.Name(), zero)
		}
		kf.Parse = func(s string) (K, error) { return any(s).(K), nil }
		kf.Format = func(k K) string { return any(k).(string) }
	}
	if kf.Coder == nil {
		kf.Coder = stream.CoderFor[K]()
	}
	st := servedTable{
		get: func(text string) (int32, any, bool, error) {
			k, err := kf.Parse(text)
			if err != nil {
				return 0, nil, false, &badKeyError{err}
			}
			kb, err := kf.Coder.Encode(k)
			if err != nil {
				return 0, nil, false, &badKeyError{err}
			}
			task, err := s.a.TaskOf(kb)
			if err != nil {
				return 0, nil, false, err
			}
			v, ok, err := LookupWith(s.a, t, k, kf.Coder)
			return task, v, ok, err
		},
		getStandby: func(text string) (int32, any, bool, error) {
			k, err := kf.Parse(text)
			if err != nil {
				return 0, nil, false, &badKeyError{err}
			}
			kb, err := kf.Coder.Encode(k)
			if err != nil {
				return 0, nil, false, &badKeyError{err}
			}
			task, err := s.a.TaskOf(kb)
			if err != nil {
				return 0, nil, false, err
			}
			v, ok, err := LookupStandby(s.a, t, k, kf.Coder)
			return task, v, ok, err
		},
		rows: func() (map[string]tableRow, error) {
			out := map[string]tableRow{}
			s.a.mu.Lock()
			tasks := s.a.sortedTasksLocked()
			s.a.mu.Unlock()
			for _, tk := range tasks {
				tk.mu.Lock()
				if tk.ex != nil {
					rows, err := stream.TableRows(tk.ex, t)
					if err != nil {
						tk.mu.Unlock()
						return nil, err
					}
					for k, v := range rows {
						out[kf.Format(k)] = tableRow{Task: tk.id, Value: v}
					}
				}
				tk.mu.Unlock()
			}
			return out, nil
		},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.tables[t.Name()]; dup {
		return fmt.Errorf("%w: table %s is served already", ErrConfig, t.Name())
	}
	s.tables[t.Name()] = st
	return nil
}

type badKeyError struct{ err error }

func (e *badKeyError) Error() string { return "bad key: " + e.err.Error() }

// forwardedHeader marks a request one instance forwarded to another, which must then answer
// from its own tasks only (no second hop, so a stale owner map cannot loop).
const forwardedHeader = "X-Samsa-Forwarded"

// ServeHTTP implements http.Handler.
func (s *TableServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "only GET is served"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/stores/")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "paths are /stores/<store>/keys[/<key>]"})
		return
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 || parts[1] != "keys" {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "paths are /stores/<store>/keys[/<key>]"})
		return
	}
	store, err := url.PathUnescape(parts[0])
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad store name: " + err.Error()})
		return
	}
	s.mu.RLock()
	st, ok := s.tables[store]
	s.mu.RUnlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("no table named %q is served", store)})
		return
	}
	if len(parts) == 3 {
		key, err := url.PathUnescape(parts[2])
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad key: " + err.Error()})
			return
		}
		s.serveKey(w, r, store, st, key)
		return
	}
	s.serveScan(w, r, store, st)
}

func (s *TableServer) serveKey(w http.ResponseWriter, r *http.Request, store string, st servedTable, key string) {
	task, v, found, err := st.get(key)
	var bad *badKeyError
	var nl *NotLocalError
	switch {
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
	case errors.Is(err, ErrNotRunning):
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
	case errors.As(err, &nl):
		// The owner answers if it can; else a standby copy (here, or on an instance that
		// keeps one), flagged stale; else 502 (owner unreachable) or 503 (moving).
		self, forwarded := s.a.cfg.ApplicationServer, r.Header.Get(forwardedHeader) != ""
		var ferr error
		if nl.Owner != "" && nl.Owner != self && !forwarded {
			if ferr = s.forward(w, r, nl.Owner); ferr == nil {
				return
			}
		}
		if s.serveStandby(w, store, st, key) {
			return
		}
		if !forwarded {
			for _, ep := range s.a.StandbyEndpoints(nl.Task) {
				if ep != self && ep != nl.Owner && s.forward(w, r, ep) == nil {
					return
				}
			}
		}
		if ferr != nil {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": fmt.Sprintf("owner %s: %v", nl.Owner, ferr), "task": nl.Task})
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "task": nl.Task})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"store": store, "key": key, "task": task,
			"instance": s.a.cfg.ApplicationServer, "error": "key not found"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"store": store, "key": key, "value": v, "task": task,
			"instance": s.a.cfg.ApplicationServer})
	}
}

// forward sends r to the instance at instance and copies its answer; on a transport error
// it writes nothing and returns the error.
func (s *TableServer) forward(w http.ResponseWriter, r *http.Request, instance string) error {
	resp, err := s.get(r.Context(), instance, r.URL.RequestURI())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
	return nil
}

// serveStandby answers a key from this instance's standby copy of its task, flagged
// "stale": true (the copy is at the last commit it applied). It reports whether it answered.
func (s *TableServer) serveStandby(w http.ResponseWriter, store string, st servedTable, key string) bool {
	task, v, found, err := st.getStandby(key)
	var nl *NotLocalError
	switch {
	case errors.As(err, &nl):
		return false
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"store": store, "key": key, "task": task,
			"instance": s.a.cfg.ApplicationServer, "stale": true, "error": "key not found"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"store": store, "key": key, "value": v, "task": task,
			"instance": s.a.cfg.ApplicationServer, "stale": true})
	}
	return true
}

func (s *TableServer) get(ctx context.Context, instance, uri string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+instance+uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(forwardedHeader, "1")
	return s.client.Do(req)
}

type scanRow struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
	Task  int32  `json:"task"`
}

func (s *TableServer) serveScan(w http.ResponseWriter, r *http.Request, store string, st servedTable) {
	q := r.URL.Query()
	prefix, from, to := q.Get("prefix"), q.Get("from"), q.Get("to")
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 100000 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "limit must be an integer in [1, 100000]"})
			return
		}
		limit = n
	}
	if s.a.ntasks == 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": ErrNotRunning.Error()})
		return
	}
	local, err := st.rows()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		return
	}
	var rows []scanRow
	keep := func(k string) bool {
		return strings.HasPrefix(k, prefix) && (from == "" || k >= from) && (to == "" || k < to)
	}
	for k, v := range local {
		if keep(k) {
			rows = append(rows, scanRow{Key: k, Value: v.Value, Task: v.Task})
		}
	}
	partial := false
	instances := []string{s.a.cfg.ApplicationServer}
	if r.Header.Get(forwardedHeader) == "" {
		// Every other instance that owns tasks answers for its own.
		owners := map[string]bool{}
		for t := int32(0); t < s.a.ntasks; t++ {
			o := s.a.Owner(t)
			switch {
			case o == "":
				partial = true // a task without a known owner: moving, or no endpoint advertised
			case o != s.a.cfg.ApplicationServer:
				owners[o] = true
			}
		}
		for o := range owners {
			instances = append(instances, o)
			resp, err := s.get(r.Context(), o, r.URL.RequestURI())
			if err != nil {
				partial = true
				continue
			}
			var remote struct {
				Rows    []scanRow `json:"rows"`
				Partial bool      `json:"partial"`
			}
			err = json.NewDecoder(resp.Body).Decode(&remote)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				partial = true
				continue
			}
			rows = append(rows, remote.Rows...)
			partial = partial || remote.Partial
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	if len(rows) > limit {
		rows = rows[:limit]
	}
	sort.Strings(instances[1:])
	writeJSON(w, http.StatusOK, map[string]any{"store": store, "rows": rows, "partial": partial, "instances": instances})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
