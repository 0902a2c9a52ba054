package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/samsatest"
)

const timeout = 60 * time.Second

// browser is one headless Chromium tab with the JavaScript errors it reported.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	js  []string // uncaught exceptions and console.error calls
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install chromium); CI=true requires it")
	}
	t.Skip("chromium is not installed")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	b := &browser{t: t, ctx: ctx}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	calls := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.note((&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		}
	}()
	go func() {
		for ev, err := range calls {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.note("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		}
	}()
	return b
}

func (b *browser) note(s string) {
	b.mu.Lock()
	b.js = append(b.js, s)
	b.mu.Unlock()
}

// jsErrors returns the JavaScript errors seen so far.
func (b *browser) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.js...)
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (JavaScript errors: %v)", err, b.jsErrors())
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true in the page. Evaluation errors while a page is
// being replaced (after a form submission) count as "not yet".
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	var last string
	testwait.Until(b.t, timeout, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			last = err.Error()
			return false, last
		}
		if !ok {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			if len(text) > 1500 {
				text = text[:1500]
			}
			last = "page text: " + text
		}
		return ok, last
	})
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the visible part of the page (or the whole page) as PNG under the test's
// temporary directory and $SAMSA_SCREENSHOT_DIR.
func (b *browser) screenshot(name string, full bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	act := chromedp.CaptureScreenshot()
	if full {
		act = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, act)
	if err != nil {
		b.t.Fatal(err)
	}
	if len(png) < 10_000 {
		b.t.Fatalf("screenshot of %d bytes", len(png))
	}
	dirs := []string{b.t.TempDir()}
	if d := os.Getenv("SAMSA_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", p)
	}
}

// env is a broker with its console.
type env struct {
	t   *testing.T
	b   *samsatest.Broker
	url string
	cl  *kgo.Client
	adm *kadm.Client
}

func start(t *testing.T) *env {
	t.Helper()
	b := samsatest.Start(t, samsatest.WithSetting("samsa.console.sample.interval.ms", "200"),
		samsatest.WithSetting("offsets.topic.num.partitions", "1"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, b: b, url: b.HTTPURL(), cl: cl, adm: kadm.NewClient(cl)}
}

func (e *env) createTopic(name string, partitions int32) {
	e.t.Helper()
	if _, err := e.adm.CreateTopic(e.t.Context(), partitions, 1, nil, name); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) produce(rs ...*kgo.Record) {
	e.t.Helper()
	if err := e.cl.ProduceSync(e.t.Context(), rs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// TestPagesLoadWithoutErrors loads every page; none reports a JavaScript error, and the
// embedded scripts are there.
func TestPagesLoadWithoutErrors(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createTopic("pages", 2)
	e.produce(&kgo.Record{Topic: "pages", Value: []byte("hello")})
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "pages", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := e.adm.CommitOffsets(t.Context(), "pg", offs); err != nil {
		t.Fatal(err)
	}
	regSchema(t, e, "pages-value", `"string"`)
	b := newBrowser(t)
	for _, p := range []string{"/", "/topics", "/topics?filter=pag", "/topics/pages", "/topics/pages/messages",
		"/topics/pages/messages?start=oldest&value=hel", "/groups", "/groups/pg", "/schemas", "/schemas/pages-value",
		"/schemas/pages-value?from=1&to=1"} {
		b.do(chromedp.Navigate(e.url + p))
		b.waitJS("the scripts of "+p, `typeof htmx === "object" && typeof uPlot === "function" && document.readyState === "complete"`)
		if h := b.text("h1"); h == "" || strings.Contains(h, "Not Found") {
			t.Errorf("%s: heading %q", p, h)
		}
	}
	// Charts render (their data-points attribute is set by app.js).
	b.do(chromedp.Navigate(e.url + "/"))
	b.waitJS("the overview charts", `document.querySelectorAll("[data-points]").length === 2 && document.querySelectorAll(".uplot").length === 2`)
	// The dark-mode switch toggles the theme.
	b.do(chromedp.Click(chromedp.ID("theme")))
	first := b.eval(`document.documentElement.getAttribute("data-theme")`)
	b.do(chromedp.Click(chromedp.ID("theme")))
	if second := b.eval(`document.documentElement.getAttribute("data-theme")`); first == second || (first != "dark" && first != "light") {
		t.Errorf("theme toggle: %q then %q", first, second)
	}
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

func regSchema(t *testing.T, e *env, subject, schema string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	body := fmt.Sprintf(`{"schema":%q}`, schema)
	req, _ := newJSONRequest(ctx, "POST", e.b.RegistryURL()+"/subjects/"+subject+"/versions", body)
	var out struct {
		ID int `json:"id"`
	}
	if err := doJSON(req, &out); err != nil {
		t.Fatal(err)
	}
	return out.ID
}

// TestCreateTopicInUI: create a topic with the form, then see it listed.
func TestCreateTopicInUI(t *testing.T) {
	t.Parallel()
	e := start(t)
	b := newBrowser(t)
	b.do(chromedp.Navigate(e.url+"/topics"),
		chromedp.SetValue(chromedp.ID("new-topic-name"), "made-in-the-ui"),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name=partitions]`), "3"),
		chromedp.SetValue(chromedp.CSS(`#create-topic textarea[name=configs]`), "retention.ms=3600000"),
		chromedp.Submit(chromedp.ID("new-topic-name")),
	)
	b.waitJS("the topic page", `location.pathname === "/topics/made-in-the-ui"`)
	if f := b.text(".flash.ok"); !strings.Contains(f, "Topic created") {
		t.Fatalf("flash %q", f)
	}
	b.do(chromedp.Navigate(e.url + "/topics"))
	b.waitJS("the new topic in the list", `[...document.querySelectorAll("#topic-list a")].some(a => a.textContent === "made-in-the-ui")`)
	// The filter narrows the list as you type (htmx).
	e.createTopic("other", 1)
	b.do(chromedp.Navigate(e.url+"/topics"), chromedp.SendKeys(chromedp.CSS(`input[name=filter]`), "made"))
	b.waitJS("the filtered list", `document.querySelectorAll("#topic-list tbody tr").length === 1 && location.search.includes("filter=made")`)
	md, err := e.adm.ListTopics(t.Context(), "made-in-the-ui")
	if err != nil || len(md["made-in-the-ui"].Partitions) != 3 {
		t.Fatalf("topic metadata %+v %v", md, err)
	}
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestProduceInUIAndBrowse: produce with the form, find the message in the browser, shown as
// text (a <script> value does not run); the live tail shows new messages and pauses.
func TestProduceInUIAndBrowse(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createTopic("ui", 1)
	b := newBrowser(t)
	const evil = `<script>window.__xss = 1</script><img src=x onerror="window.__xss=2">`
	b.do(chromedp.Navigate(e.url+"/topics/ui/messages"),
		chromedp.SetValue(chromedp.ID("produce-key"), "k1"),
		chromedp.SetValue(chromedp.ID("produce-value"), evil),
		chromedp.SetValue(chromedp.CSS(`#produce textarea[name=headers]`), "source=ui"),
		chromedp.Submit(chromedp.ID("produce-value")),
	)
	b.waitJS("the produced message", `document.querySelectorAll("#messages tr.msg").length === 1`)
	if got := b.text("#messages tr.msg pre"); got != evil {
		t.Fatalf("value shown as %q", got)
	}
	if x := b.eval(`String(window.__xss)`); x != "undefined" {
		t.Fatalf("the message's markup ran: __xss = %s", x)
	}
	if s := b.text("#scan-summary"); !strings.Contains(s, "Scanned 1 of 1") {
		t.Fatalf("summary %q", s)
	}
	if h := b.text("#messages tr.msg td:last-child"); !strings.Contains(h, "source: ui") {
		t.Fatalf("headers %q", h)
	}

	// Live tail: start, see a new message on top, pause.
	b.do(chromedp.Click(chromedp.ID("tail-toggle")))
	b.waitJS("the tail to start", `document.getElementById("tail-status").textContent.startsWith("live")`)
	e.produce(&kgo.Record{Topic: "ui", Value: []byte("tailed <b>1</b>")})
	b.waitJS("the tailed message", `document.querySelectorAll("#tail-rows tr").length === 1`)
	if v := b.text("#tail-rows tr pre"); v != "tailed <b>1</b>" {
		t.Fatalf("tailed value %q", v)
	}
	b.do(chromedp.Click(chromedp.ID("tail-toggle")))
	b.waitJS("the pause", `document.getElementById("tail-status").textContent.startsWith("paused")`)
	b.screenshot("messages-1280x800.png", false)
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestAvroDecodedInUI: an Avro record shows its decoded fields, schema id and subject.
func TestAvroDecodedInUI(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createTopic("users", 1)
	id := regSchema(t, e, "users-value", `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`)
	b := newBrowser(t)
	b.do(chromedp.Navigate(e.url+"/topics/users/messages"),
		chromedp.SetValue(chromedp.CSS(`#produce input[name=value_subject]`), "users-value"),
		chromedp.SetValue(chromedp.ID("produce-value"), `{"name":"ada","age":36}`),
		chromedp.Submit(chromedp.ID("produce-value")),
	)
	b.waitJS("the Avro message", `document.querySelectorAll("#messages tr.msg").length === 1`)
	row := b.text("#messages tr.msg")
	for _, want := range []string{`{"name":"ada","age":36}`, fmt.Sprintf("schema id %d", id), "subject users-value v1", "avro"} {
		if !strings.Contains(row, want) {
			t.Fatalf("row %q lacks %q", row, want)
		}
	}
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestGroupLagAndReset: a group with lag shows it (records and seconds) and its lag chart has
// points; reset offsets with a dry run (nothing changes), then apply.
func TestGroupLagAndReset(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createTopic("lagging", 1)
	old := time.Now().Add(-2 * time.Minute)
	var rs []*kgo.Record
	for i := range 10 {
		rs = append(rs, &kgo.Record{Topic: "lagging", Value: []byte("x"), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	e.produce(rs...)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagging", Partition: 0, At: 3, LeaderEpoch: -1})
	if _, err := e.adm.CommitOffsets(t.Context(), "slow", offs); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	b.do(chromedp.Navigate(e.url + "/groups"))
	b.waitJS("the group in the list", `document.body.innerText.includes("slow")`)
	testwait.Until(t, timeout, "two lag samples", func() (bool, string) {
		b.do(chromedp.Navigate(e.url + "/groups/slow"))
		b.waitJS("the lag chart", `document.querySelector("#chart-lag[data-points]") !== null`)
		n := b.eval(`document.querySelector("#chart-lag").getAttribute("data-points")`)
		return n != "0" && n != "1", n + " points"
	})
	if lag := b.text("#group-lag"); lag != "7" {
		t.Fatalf("lag %q, want 7", lag)
	}
	var secs float64
	fmt.Sscan(b.text("#group-lag-seconds"), &secs)
	if secs < 110 {
		t.Fatalf("lag seconds %v, want about 117", secs)
	}
	if n := b.eval(`String(document.querySelectorAll("#chart-lag .uplot").length)`); n != "1" {
		t.Fatalf("%s lag charts drawn", n)
	}

	// Dry run.
	b.do(chromedp.SetValue(chromedp.CSS(`#reset select[name=to]`), "earliest"), chromedp.Click(chromedp.ID("reset-dry")))
	b.waitJS("the dry run", `document.getElementById("reset-result") !== null`)
	res := b.text("#reset-result")
	if !strings.Contains(res, "Dry run") || !strings.Contains(res, "lagging") {
		t.Fatalf("dry run result %q", res)
	}
	if cells := b.eval(`[...document.querySelectorAll("#reset-result td")].map(td => td.textContent).join(",")`); cells != "lagging,0,3,0" {
		t.Fatalf("dry run plan %q", cells)
	}
	if o, _ := e.adm.FetchOffsets(t.Context(), "slow"); o["lagging"][0].At != 3 {
		t.Fatalf("dry run changed the offset: %+v", o)
	}
	// Apply.
	b.do(chromedp.Click(chromedp.ID("reset-apply")))
	b.waitJS("the applied reset", `document.getElementById("reset-result") && document.getElementById("reset-result").innerText.includes("Applied")`)
	if o, _ := e.adm.FetchOffsets(t.Context(), "slow"); o["lagging"][0].At != 0 {
		t.Fatalf("offset after apply: %+v", o)
	}
	b.screenshot("group-1280x800.png", true)
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}

// TestOverviewScreenshots saves the overview at 1280×800 and at a phone's width, after some
// traffic so that the charts have data.
func TestOverviewScreenshots(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.createTopic("traffic", 3)
	b := newBrowser(t)
	// A few samples with traffic between them.
	for i := range 8 {
		var rs []*kgo.Record
		for j := range 50 {
			rs = append(rs, &kgo.Record{Topic: "traffic", Partition: int32(j % 3), Value: []byte(strings.Repeat("v", 100+i*20))})
		}
		e.produce(rs...)
		time.Sleep(250 * time.Millisecond) // spread the traffic over several samples (pacing, not waiting for a condition)
	}
	b.do(chromedp.Navigate(e.url + "/"))
	b.waitJS("charts with data", `[...document.querySelectorAll("[data-points]")].every(el => +el.getAttribute("data-points") >= 3) && document.querySelectorAll(".uplot").length === 2`)
	shot := func(name string) { b.screenshot(name, true) }
	shot("overview-1280x800.png")
	b.do(chromedp.Click(chromedp.ID("theme")))
	b.waitJS("dark charts", `document.documentElement.getAttribute("data-theme") === "dark" && document.querySelectorAll(".uplot").length === 2`)
	shot("overview-dark-1280x800.png")
	b.do(chromedp.Click(chromedp.ID("theme")))
	// The page fits the width: no horizontal scrolling.
	if w := b.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); w != "true" {
		t.Errorf("overview scrolls sideways at 1280 px")
	}
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(e.url+"/"))
	b.waitJS("charts at phone width", `document.querySelectorAll(".uplot").length === 2`)
	if w := b.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); w != "true" {
		t.Errorf("overview scrolls sideways at phone width")
	}
	shot("overview-phone.png")
	b.do(chromedp.Navigate(e.url + "/topics/traffic/messages"))
	b.waitJS("messages", `document.querySelectorAll("#messages tr.msg").length > 0`)
	shot("messages-phone.png")
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors: %v", errs)
	}
}
