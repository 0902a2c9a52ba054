package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxBody bounds JSON request bodies (a produced value is at most 1 MiB).
const maxBody = 2 << 20

// apiTimeout bounds one API call's Kafka and registry requests.
const apiTimeout = 30 * time.Second

// apiFunc is a JSON API handler: it returns the value to encode or an error.
type apiFunc func(ctx context.Context, r *http.Request) (any, error)

func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if c.cfg.Ready != nil {
			if err := c.cfg.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		io.WriteString(w, "ready\n")
	})
	if c.cfg.Metrics != nil {
		mux.Handle("GET /metrics", c.cfg.Metrics.Handler())
	}
	mux.Handle("GET /static/", staticHandler())

	api := func(pattern string, f apiFunc) { mux.Handle(pattern, c.apiHandler(pattern, f)) }
	api("GET /api/cluster", func(ctx context.Context, _ *http.Request) (any, error) { return c.clusterInfo(ctx) })
	if c.cfg.Storage != nil {
		api("GET /api/storage", func(context.Context, *http.Request) (any, error) { return c.cfg.Storage(), nil })
	}
	c.brokerRoutes(api) // brokers.go
	c.voterRoutes(api)  // brokers.go
	api("GET /api/history", func(ctx context.Context, _ *http.Request) (any, error) { return c.throughput(), nil })
	api("GET /api/topics", func(ctx context.Context, r *http.Request) (any, error) {
		q := r.URL.Query()
		page, err := intParam(q.Get("page"), "page", 1, 1, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		size, err := intParam(q.Get("page_size"), "page_size", 100, 1, maxPageSize)
		if err != nil {
			return nil, err
		}
		return c.listTopics(ctx, q.Get("filter"), int(page), int(size))
	})
	api("POST /api/topics", func(ctx context.Context, r *http.Request) (any, error) {
		var req CreateTopicRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		if err := c.createTopic(ctx, req); err != nil {
			return nil, err
		}
		return created{map[string]string{"name": req.Name}}, nil
	})
	api("GET /api/topics/{topic}", func(ctx context.Context, r *http.Request) (any, error) {
		return c.topicDetail(ctx, r.PathValue("topic"))
	})
	api("DELETE /api/topics/{topic}", func(ctx context.Context, r *http.Request) (any, error) {
		return ok(), c.deleteTopic(ctx, r.PathValue("topic"))
	})
	api("PUT /api/topics/{topic}/configs", func(ctx context.Context, r *http.Request) (any, error) {
		var req AlterConfigsRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return ok(), c.alterConfigs(ctx, r.PathValue("topic"), req)
	})
	api("POST /api/topics/{topic}/partitions", func(ctx context.Context, r *http.Request) (any, error) {
		var req AddPartitionsRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return ok(), c.addPartitions(ctx, r.PathValue("topic"), req)
	})
	api("GET /api/topics/{topic}/messages", func(ctx context.Context, r *http.Request) (any, error) {
		req, err := browseRequest(r)
		if err != nil {
			return nil, err
		}
		return c.browse(ctx, req)
	})
	api("POST /api/topics/{topic}/messages", func(ctx context.Context, r *http.Request) (any, error) {
		var req ProduceRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		res, err := c.produce(ctx, r.PathValue("topic"), req)
		if err != nil {
			return nil, err
		}
		return created{res}, nil
	})
	mux.Handle("GET /api/topics/{topic}/tail", c.recoverer(http.HandlerFunc(c.tail)))
	api("GET /api/groups", func(ctx context.Context, _ *http.Request) (any, error) { return c.listGroups(ctx) })
	api("GET /api/groups/{group}", func(ctx context.Context, r *http.Request) (any, error) {
		return c.groupDetail(ctx, r.PathValue("group"))
	})
	api("POST /api/groups/{group}/reset", func(ctx context.Context, r *http.Request) (any, error) {
		var req ResetRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		if !req.DryRun && c.cfg.ReadOnly {
			return nil, errReadOnly
		}
		return c.resetOffsets(ctx, r.PathValue("group"), req)
	})
	api("DELETE /api/groups/{group}", func(ctx context.Context, r *http.Request) (any, error) {
		return ok(), c.deleteGroup(ctx, r.PathValue("group"))
	})
	api("GET /api/schemas/subjects", func(ctx context.Context, _ *http.Request) (any, error) { return c.subjects(ctx) })
	api("GET /api/schemas/subjects/{subject}", func(ctx context.Context, r *http.Request) (any, error) {
		return c.subject(ctx, r.PathValue("subject"))
	})
	api("GET /api/schemas/subjects/{subject}/versions/{version}", func(ctx context.Context, r *http.Request) (any, error) {
		return c.schemaVersion(ctx, r.PathValue("subject"), r.PathValue("version"))
	})
	api("GET /api/schemas/subjects/{subject}/diff", func(ctx context.Context, r *http.Request) (any, error) {
		return c.diff(ctx, r.PathValue("subject"), r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	})
	api("POST /api/schemas/subjects/{subject}/compatibility", func(ctx context.Context, r *http.Request) (any, error) {
		var req CompatibilityRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return c.checkCompatibility(ctx, r.PathValue("subject"), req)
	})
	api("POST /api/schemas/subjects/{subject}/versions", func(ctx context.Context, r *http.Request) (any, error) {
		var req CompatibilityRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		id, err := c.registerSchema(ctx, r.PathValue("subject"), req)
		if err != nil {
			return nil, err
		}
		return created{map[string]int{"id": id}}, nil
	})
	mux.Handle("/api/", c.apiHandler("", func(context.Context, *http.Request) (any, error) {
		return nil, notFound("no such API endpoint (see docs/console.md)")
	}))
	c.pageRoutes(mux)
	return mux
}

// created marks a value answered with 201.
type created struct{ v any }

func ok() map[string]bool { return map[string]bool{"ok": true} }

// apiHandler runs f with a deadline, refusing changes in read-only mode, and answers JSON:
// the value, or {"error": message} with the error's status.
func (c *Console) apiHandler(pattern string, f apiFunc) http.Handler {
	mutating := !strings.HasPrefix(pattern, "GET ") && pattern != "" &&
		!strings.HasSuffix(pattern, "/compatibility") && !strings.HasSuffix(pattern, "/reset")
	return c.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mutating && c.cfg.ReadOnly {
			writeJSON(w, statusOf(errReadOnly), map[string]string{"error": errReadOnly.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		v, err := f(ctx, r)
		if err != nil {
			st := statusOf(err)
			if st >= 500 {
				c.log.Warn("console API call failed", "method", r.Method, "path", r.URL.Path, "status", st, "err", err)
			} else {
				c.log.Debug("console API call refused", "method", r.Method, "path", r.URL.Path, "status", st, "err", err)
			}
			writeJSON(w, st, map[string]string{"error": err.Error()})
			return
		}
		if cr, isCreated := v.(created); isCreated {
			writeJSON(w, http.StatusCreated, cr.v)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
}

// recoverer turns a handler panic (a bug) into a logged 500 instead of a dropped connection.
func (c *Console) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				c.log.Error("console handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decodeJSON reads a JSON body into v: at most maxBody bytes, no unknown fields, one value.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("malformed JSON: empty body")
		}
		return badRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON: more than one value")
	}
	return nil
}

// intParam parses a query parameter; "" gives def.
func intParam(s, name string, def, lo, hi int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badRequest("%s %q: not a number", name, truncate(s, 50))
	}
	if n < lo || n > hi {
		return 0, badRequest("%s %d: want %d to %d", name, n, lo, hi)
	}
	return n, nil
}

// browseRequest reads the message browser's query parameters.
func browseRequest(r *http.Request) (BrowseRequest, error) {
	q := r.URL.Query()
	req := BrowseRequest{Topic: r.PathValue("topic"), Start: q.Get("start"), Key: q.Get("key"), Value: q.Get("value"), Header: q.Get("header")}
	p, err := intParam(q.Get("partition"), "partition", 0, 0, maxPartitions)
	if err != nil {
		return req, err
	}
	req.Partition = int32(p)
	if req.Offset, err = intParam(q.Get("offset"), "offset", 0, 0, math.MaxInt64); err != nil {
		return req, err
	}
	if ts := q.Get("timestamp"); ts != "" {
		if t, err := time.Parse(time.RFC3339, ts); err == nil {
			req.Timestamp = t.UnixMilli()
		} else if t, err := time.Parse("2006-01-02T15:04", ts); err == nil { // <input type=datetime-local>
			req.Timestamp = t.UnixMilli()
		} else if req.Timestamp, err = intParam(ts, "timestamp", 0, 0, 1<<53); err != nil {
			return req, badRequest("timestamp %q: want milliseconds since 1970 or RFC 3339 time", truncate(ts, 50))
		}
		if req.Timestamp < 0 || req.Timestamp > 1<<53 {
			return req, badRequest("timestamp %q: before 1970 or too far ahead", truncate(ts, 50))
		}
	}
	lim, err := intParam(q.Get("limit"), "limit", defaultBrowseLim, 1, maxBrowseLim)
	if err != nil {
		return req, err
	}
	req.Limit = int(lim)
	ms, err := intParam(q.Get("max_scan"), "max_scan", 0, 1, math.MaxInt32)
	if err != nil {
		return req, err
	}
	req.MaxScan = int(ms)
	req.Full = q.Get("full") == "1" || q.Get("full") == "true"
	return req, nil
}

// Throughput is the overview chart's history (parallel arrays, for uPlot).
type Throughput struct {
	T            []float64 `json:"t"`
	ProduceMsgs  []float64 `json:"produce_msgs"`
	ProduceBytes []float64 `json:"produce_bytes"`
	FetchBytes   []float64 `json:"fetch_bytes"`
	ConsumeMsgs  []float64 `json:"consume_msgs"`
}

func (c *Console) throughput() Throughput {
	pts := c.hist.throughput()
	t := Throughput{T: []float64{}, ProduceMsgs: []float64{}, ProduceBytes: []float64{}, FetchBytes: []float64{}, ConsumeMsgs: []float64{}}
	for i, p := range pts {
		if i == 0 {
			continue // the first sample has no rate
		}
		t.T = append(t.T, p.T)
		t.ProduceMsgs = append(t.ProduceMsgs, p.ProduceMsgs)
		t.ProduceBytes = append(t.ProduceBytes, p.ProduceBytes)
		t.FetchBytes = append(t.FetchBytes, p.FetchBytes)
		t.ConsumeMsgs = append(t.ConsumeMsgs, p.ConsumeMsgs)
	}
	return t
}

// Diff is a diff between two versions of a subject.
type Diff struct {
	Subject string     `json:"subject"`
	From    int        `json:"from"`
	To      int        `json:"to"`
	Lines   []DiffLine `json:"lines"`
}

func (c *Console) diff(ctx context.Context, subject, from, to string) (Diff, error) {
	if from == "" || to == "" {
		return Diff{}, badRequest("diff needs from and to versions")
	}
	a, err := c.schemaVersion(ctx, subject, from)
	if err != nil {
		return Diff{}, err
	}
	b, err := c.schemaVersion(ctx, subject, to)
	if err != nil {
		return Diff{}, err
	}
	return Diff{Subject: subject, From: a.Version, To: b.Version, Lines: diffLines(a.Schema, b.Schema)}, nil
}

// tail streams new messages of a partition as server-sent events (event "message", data a
// MessageView as JSON) until the client goes away. ?from= an offset, default the end.
func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	fail := func(err error) { writeJSON(w, statusOf(err), map[string]string{"error": err.Error()}) }
	if err := validTopic(topic); err != nil {
		fail(err)
		return
	}
	q := r.URL.Query()
	p, err := intParam(q.Get("partition"), "partition", 0, 0, maxPartitions)
	if err != nil {
		fail(err)
		return
	}
	if err := c.needTopic(r.Context(), kmsg.ACLOperationRead, topic); err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-c.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	octx, ocancel := context.WithTimeout(ctx, apiTimeout)
	_, end, err := c.offsetsOf(octx, topic)
	ocancel()
	if err != nil {
		fail(err)
		return
	}
	eo, found := end.Lookup(topic, int32(p))
	if !found {
		fail(notFound("topic %q has no partition %d", topic, p))
		return
	}
	next, err := intParam(q.Get("from"), "from", eo.Offset, 0, math.MaxInt64)
	if err != nil {
		fail(err)
		return
	}
	fl, canFlush := w.(http.Flusher)
	if !canFlush {
		fail(badRequest("streaming not supported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\nevent: start\ndata: {\"offset\":%d}\n\n", next)
	fl.Flush()
	for ctx.Err() == nil {
		res, err := c.fetch(ctx, topic, int32(p), next, fetchChunk, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b, _ := json.Marshal(map[string]string{"error": err.Error()})
			fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
			fl.Flush()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if len(res.Messages) == 0 {
			if res.Next > next {
				next = res.Next // control batches only
			}
			io.WriteString(w, ": idle\n\n")
			fl.Flush()
			continue
		}
		for i := range res.Messages {
			m := trimMessage(res.Messages[i], false)
			b, _ := json.Marshal(c.view(ctx, &m, false))
			fmt.Fprintf(w, "event: message\nid: %d\ndata: %s\n\n", m.Offset, b)
			next = m.Offset + 1
		}
		fl.Flush()
	}
}
