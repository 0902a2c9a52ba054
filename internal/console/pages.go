package console

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the embedded CSS, scripts and licences under /static/.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"bytes": func(n int64) string {
		switch {
		case n < 0:
			return "–"
		case n < 1024:
			return fmt.Sprintf("%d B", n)
		case n < 1<<20:
			return fmt.Sprintf("%.1f KiB", float64(n)/1024)
		case n < 1<<30:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		}
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	},
	"add":    func(a, b int) int { return a + b },
	"sub":    func(a, b int) int { return a - b },
	"mul":    func(a, b int) int { return a * b },
	"int64":  func(n int) int64 { return int64(n) },
	"pretty": pretty,
	"seg":    url.PathEscape, // a group or subject name as one path segment ("a/b" → "a%2Fb")
}

// pageTemplates holds one template set per page (the layout plus the page's content).
var pageTemplates = func() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	m := map[string]*template.Template{}
	for _, name := range []string{"overview", "topics", "topic", "messages", "groups", "group", "schemas", "subject", "error"} {
		t := template.Must(base.Clone())
		if name == "error" {
			template.Must(t.Parse(`{{define "content"}}<h1>{{.Title}}</h1>{{end}}`))
		} else {
			template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
		}
		m[name] = t
	}
	return m
}()

// page is what every page template gets.
type page struct {
	Title    string
	Nav      string
	ReadOnly bool
	Error    string
	Flash    string
	Data     any

	// messages
	Topic          string
	Partitions     []int32
	Query          BrowseRequest
	TimestampInput string
	// group
	Topics      []string
	Reset       resetForm
	ResetResult *ResetResult
}

type resetForm struct {
	Topic          string
	PartitionsText string
	To             string
	Timestamp      int64
	Offset         int64
}

// subjectPage is the schema subject page's data.
type subjectPage struct {
	Subject   SubjectInfo
	Version   *SchemaVersion
	Diff      *Diff
	From, To  int
	Candidate string
	Compat    *CompatibilityResult
}

// flashes are the fixed messages a redirect may ask for (?done=...).
var flashes = map[string]string{
	"created":    "Topic created.",
	"configured": "Config changed.",
	"partitions": "Partitions added.",
	"deleted":    "Deleted.",
	"produced":   "Message produced.",
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.ReadOnly = c.cfg.ReadOnly
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := pageTemplates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console: render page", "page", name, "err", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail renders an error page (or the page p with its error) with the error's status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	st := statusOf(err)
	if st >= 500 {
		c.log.Warn("console page failed", "path", r.URL.Path, "status", st, "err", err)
	}
	p.Error = err.Error()
	if p.Data == nil && name != "topics" && name != "messages" && name != "group" {
		name = "error"
		p.Title = http.StatusText(st)
	}
	c.render(w, r, st, name, p)
}

// pageHandler gives page handlers a deadline, refuses changes in read-only mode and recovers.
func (c *Console) pageHandler(mutating bool, f func(ctx context.Context, w http.ResponseWriter, r *http.Request)) http.Handler {
	return c.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mutating && c.cfg.ReadOnly {
			c.fail(w, r, "error", &page{}, errReadOnly)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		f(ctx, w, r)
	}))
}

func redirect(w http.ResponseWriter, r *http.Request, path, done string) {
	http.Redirect(w, r, path+"?done="+done, http.StatusSeeOther)
}

func (c *Console) pageRoutes(mux *http.ServeMux) {
	get := func(pattern string, f func(ctx context.Context, w http.ResponseWriter, r *http.Request)) {
		mux.Handle("GET "+pattern, c.pageHandler(false, f))
	}
	post := func(pattern string, f func(ctx context.Context, w http.ResponseWriter, r *http.Request)) {
		mux.Handle("POST "+pattern, c.pageHandler(true, f))
	}
	get("/{$}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		p := &page{Title: "Overview", Nav: "overview"}
		ci, err := c.clusterInfo(ctx)
		if err != nil {
			c.fail(w, r, "overview", p, err)
			return
		}
		p.Data = ci
		c.render(w, r, 200, "overview", p)
	})
	get("/topics", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		p := &page{Title: "Topics", Nav: "topics"}
		q := r.URL.Query()
		pg, err := intParam(q.Get("page"), "page", 1, 1, 1<<31-1)
		if err != nil {
			c.fail(w, r, "topics", p, err)
			return
		}
		tl, err := c.listTopics(ctx, q.Get("filter"), int(pg), 100)
		if err != nil {
			c.fail(w, r, "topics", p, err)
			return
		}
		p.Data = tl
		c.render(w, r, 200, "topics", p)
	})
	post("/topics", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		p := &page{Title: "Topics", Nav: "topics"}
		req, err := createForm(r)
		if err == nil {
			err = c.createTopic(ctx, req)
		}
		if err != nil {
			if tl, lerr := c.listTopics(ctx, "", 1, 100); lerr == nil {
				p.Data = tl
			}
			c.fail(w, r, "topics", p, err)
			return
		}
		redirect(w, r, "/topics/"+url.PathEscape(req.Name), "created")
	})
	get("/topics/{topic}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		p := &page{Title: "Topic " + name, Nav: "topics"}
		d, err := c.topicDetail(ctx, name)
		if err != nil {
			c.fail(w, r, "topic", p, err)
			return
		}
		p.Data = d
		c.render(w, r, 200, "topic", p)
	})
	post("/topics/{topic}/configs", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		k, v := strings.TrimSpace(r.FormValue("name")), r.FormValue("value")
		var val *string
		if v != "" {
			val = &v
		}
		if k == "" {
			c.topicError(ctx, w, r, name, badRequest("config name: empty"))
			return
		}
		if err := c.alterConfigs(ctx, name, AlterConfigsRequest{Configs: map[string]*string{k: val}}); err != nil {
			c.topicError(ctx, w, r, name, err)
			return
		}
		redirect(w, r, "/topics/"+url.PathEscape(name), "configured")
	})
	post("/topics/{topic}/partitions", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		n, err := intParam(r.FormValue("count"), "count", -1, 1, maxPartitions)
		if err == nil {
			err = c.addPartitions(ctx, name, AddPartitionsRequest{Count: int(n)})
		}
		if err != nil {
			c.topicError(ctx, w, r, name, err)
			return
		}
		redirect(w, r, "/topics/"+url.PathEscape(name), "partitions")
	})
	post("/topics/{topic}/delete", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		if r.FormValue("confirm") != name {
			c.topicError(ctx, w, r, name, badRequest("type the topic name %q to confirm the deletion", name))
			return
		}
		if err := c.deleteTopic(ctx, name); err != nil {
			c.topicError(ctx, w, r, name, err)
			return
		}
		redirect(w, r, "/topics", "deleted")
	})
	get("/topics/{topic}/messages", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		p := &page{Title: "Messages in " + name, Nav: "topics", Topic: name}
		req, err := browseRequest(r)
		if req.Start == "" {
			req.Start = "newest"
		}
		if req.Limit == 0 {
			req.Limit = defaultBrowseLim
		}
		p.Query = req
		if req.Timestamp > 0 {
			p.TimestampInput = time.UnixMilli(req.Timestamp).UTC().Format("2006-01-02T15:04")
		}
		if perr := c.partitionsOf(ctx, name, p); perr != nil && err == nil {
			err = perr
		}
		if err != nil {
			c.fail(w, r, "messages", p, err)
			return
		}
		res, err := c.browse(ctx, req)
		if err != nil {
			c.fail(w, r, "messages", p, err)
			return
		}
		p.Data = res
		c.render(w, r, 200, "messages", p)
	})
	post("/topics/{topic}/produce", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("topic")
		req, err := produceForm(r)
		if err == nil {
			_, err = c.produce(ctx, name, req)
		}
		if err != nil {
			p := &page{Title: "Messages in " + name, Nav: "topics", Topic: name, Query: BrowseRequest{Start: "newest", Limit: defaultBrowseLim}}
			c.partitionsOf(ctx, name, p)
			c.fail(w, r, "messages", p, err)
			return
		}
		part := "0"
		if req.Partition != nil {
			part = strconv.Itoa(int(*req.Partition))
		}
		http.Redirect(w, r, "/topics/"+url.PathEscape(name)+"/messages?done=produced&partition="+part, http.StatusSeeOther)
	})
	get("/groups", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		p := &page{Title: "Consumer groups", Nav: "groups"}
		gs, err := c.listGroups(ctx)
		if err != nil {
			c.fail(w, r, "groups", p, err)
			return
		}
		p.Data = gs
		c.render(w, r, 200, "groups", p)
	})
	get("/groups/{group}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		c.groupPage(ctx, w, r, resetForm{To: "earliest"}, nil, nil)
	})
	mux.Handle("POST /groups/{group}/reset", c.pageHandler(false, func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		form, req, err := resetFormOf(r)
		if err == nil && !req.DryRun && c.cfg.ReadOnly {
			err = errReadOnly
		}
		var res ResetResult
		if err == nil {
			res, err = c.resetOffsets(ctx, r.PathValue("group"), req)
		}
		if err != nil {
			c.groupPage(ctx, w, r, form, nil, err)
			return
		}
		c.groupPage(ctx, w, r, form, &res, nil)
	}))
	post("/groups/{group}/delete", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		g := r.PathValue("group")
		if err := c.deleteGroup(ctx, g); err != nil {
			c.groupPage(ctx, w, r, resetForm{To: "earliest"}, nil, err)
			return
		}
		redirect(w, r, "/groups", "deleted")
	})
	get("/schemas", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		p := &page{Title: "Schemas", Nav: "schemas"}
		ss, err := c.subjects(ctx)
		if err != nil {
			c.fail(w, r, "schemas", p, err)
			return
		}
		p.Data = ss
		c.render(w, r, 200, "schemas", p)
	})
	get("/schemas/{subject}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		c.subjectPage(ctx, w, r, "", nil, nil)
	})
	mux.Handle("POST /schemas/{subject}/check", c.pageHandler(false, func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		req := CompatibilityRequest{Schema: r.FormValue("schema"), SchemaType: r.FormValue("schemaType")}
		if req.SchemaType == "AVRO" {
			req.SchemaType = ""
		}
		subject := r.PathValue("subject")
		res, err := c.checkCompatibility(ctx, subject, req)
		if err == nil && res.Compatible && r.FormValue("register") == "1" {
			if c.cfg.ReadOnly {
				err = errReadOnly
			} else if id, rerr := c.registerSchema(ctx, subject, req); rerr != nil {
				err = rerr
			} else {
				res.Messages = append(res.Messages, fmt.Sprintf("Registered with schema id %d.", id))
			}
		}
		c.subjectPage(ctx, w, r, req.Schema, &res, err)
	}))
	mux.Handle("/", c.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, "error", &page{}, notFound("no such page"))
	})))
}

func (c *Console) topicError(ctx context.Context, w http.ResponseWriter, r *http.Request, name string, err error) {
	p := &page{Title: "Topic " + name, Nav: "topics"}
	if d, derr := c.topicDetail(ctx, name); derr == nil {
		p.Data = d
	}
	c.fail(w, r, "topic", p, err)
}

func (c *Console) partitionsOf(ctx context.Context, topic string, p *page) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	md, err := c.metadata(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return notFound("topic %q does not exist", topic)
	}
	for _, pd := range td.Partitions.Sorted() {
		p.Partitions = append(p.Partitions, pd.Partition)
	}
	return nil
}

func (c *Console) groupPage(ctx context.Context, w http.ResponseWriter, r *http.Request, form resetForm, res *ResetResult, err error) {
	g := r.PathValue("group")
	p := &page{Title: "Group " + g, Nav: "groups", Reset: form, ResetResult: res}
	d, derr := c.groupDetail(ctx, g)
	if derr != nil {
		c.fail(w, r, "error", p, derr)
		return
	}
	p.Data = d
	for _, gp := range d.Partitions {
		if !slices.Contains(p.Topics, gp.Topic) {
			p.Topics = append(p.Topics, gp.Topic)
		}
	}
	if p.Reset.Topic == "" && len(p.Topics) > 0 {
		p.Reset.Topic = p.Topics[0]
	}
	if err != nil {
		c.fail(w, r, "group", p, err)
		return
	}
	c.render(w, r, 200, "group", p)
}

func (c *Console) subjectPage(ctx context.Context, w http.ResponseWriter, r *http.Request, candidate string, compat *CompatibilityResult, err error) {
	s := r.PathValue("subject")
	p := &page{Title: "Subject " + s, Nav: "schemas"}
	si, serr := c.subject(ctx, s)
	if serr != nil {
		c.fail(w, r, "error", p, serr)
		return
	}
	sp := subjectPage{Subject: si, Candidate: candidate, Compat: compat}
	q := r.URL.Query()
	version := q.Get("version")
	if version == "" {
		version = "latest"
	}
	if len(si.Versions) > 0 {
		v, verr := c.schemaVersion(ctx, s, version)
		if verr != nil && err == nil {
			err = verr
		} else if verr == nil {
			sp.Version = &v
			if candidate == "" {
				sp.Candidate = pretty(v.Schema)
			}
		}
		sp.From, sp.To = si.Versions[0], si.Versions[len(si.Versions)-1]
	}
	if from, to := q.Get("from"), q.Get("to"); from != "" && to != "" {
		d, derr := c.diff(ctx, s, from, to)
		if derr != nil && err == nil {
			err = derr
		} else if derr == nil {
			sp.Diff, sp.From, sp.To = &d, d.From, d.To
		}
	}
	p.Data = sp
	if err != nil {
		c.fail(w, r, "subject", p, err)
		return
	}
	c.render(w, r, 200, "subject", p)
}

// createForm reads the create-topic form.
func createForm(r *http.Request) (CreateTopicRequest, error) {
	req := CreateTopicRequest{Name: strings.TrimSpace(r.FormValue("name"))}
	n, err := intParam(r.FormValue("partitions"), "partitions", 0, 0, maxPartitions)
	if err != nil {
		return req, err
	}
	req.Partitions = int32(n)
	rf, err := intParam(r.FormValue("replication_factor"), "replication factor", 0, 0, 32767)
	if err != nil {
		return req, err
	}
	req.ReplicationFactor = int16(rf)
	req.Configs, err = keyValues(r.FormValue("configs"), "configs")
	return req, err
}

// keyValues parses "k=v" lines.
func keyValues(s, what string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, badRequest("%s: %q is not name=value", what, truncate(line, 100))
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func produceForm(r *http.Request) (ProduceRequest, error) {
	var req ProduceRequest
	if p := r.FormValue("partition"); p != "" {
		n, err := intParam(p, "partition", 0, 0, maxPartitions)
		if err != nil {
			return req, err
		}
		pp := int32(n)
		req.Partition = &pp
	}
	if k := r.FormValue("key"); k != "" {
		req.Key = &k
	}
	v := r.FormValue("value")
	req.Value = &v
	req.ValueSubject = strings.TrimSpace(r.FormValue("value_subject"))
	for _, line := range strings.Split(r.FormValue("headers"), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return req, badRequest("headers: %q is not name=value", truncate(line, 100))
		}
		req.Headers = append(req.Headers, HeaderView{Key: k, Value: v})
	}
	return req, nil
}

func resetFormOf(r *http.Request) (resetForm, ResetRequest, error) {
	f := resetForm{Topic: strings.TrimSpace(r.FormValue("topic")), PartitionsText: r.FormValue("partitions"), To: r.FormValue("to")}
	req := ResetRequest{Topic: f.Topic, To: f.To, DryRun: r.FormValue("dry_run") != "0"}
	var err error
	if f.Timestamp, err = intParam(r.FormValue("timestamp"), "timestamp", 0, 0, 1<<53); err != nil {
		return f, req, err
	}
	if f.Offset, err = intParam(r.FormValue("offset"), "offset", 0, 0, 1<<62); err != nil {
		return f, req, err
	}
	req.Timestamp, req.Offset = f.Timestamp, f.Offset
	for _, s := range strings.Split(f.PartitionsText, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := intParam(s, "partition", 0, 0, maxPartitions)
		if err != nil {
			return f, req, err
		}
		req.Partitions = append(req.Partitions, int32(n))
	}
	return f, req, nil
}
