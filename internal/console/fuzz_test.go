package console

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzBrowseRequest: any query string parses into a request within the documented ranges or
// a 400 error, never a panic.
func FuzzBrowseRequest(f *testing.F) {
	for _, s := range []string{"", "partition=1&start=offset&offset=5", "start=timestamp&timestamp=2026-01-02T03:04:05Z",
		"timestamp=2026-01-02T03:04", "limit=0", "offset=-1", "max_scan=99999999999999999999", "partition=%ff", "key=%00&header=a=b=c",
		"timestamp=1e3", "limit=500&full=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = q
		r.SetPathValue("topic", "t")
		req, err := browseRequest(r)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("%q: error %v is not a 400", q, err)
			}
			return
		}
		if req.Partition < 0 || req.Offset < 0 || req.Limit < 1 || req.Limit > maxBrowseLim || req.MaxScan < 0 || req.Timestamp < 0 {
			t.Fatalf("%q: out of range %+v", q, req)
		}
	})
}

// FuzzKeyValues: config and header lines parse or give a 400.
func FuzzKeyValues(f *testing.F) {
	for _, s := range []string{"a=b", "a=b\nc=d", "=x", "no equals", " k = v \n\n", "a==b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := keyValues(s, "configs")
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, "\n") {
				t.Fatalf("%q: key %q", s, k)
			}
		}
		form := url.Values{"headers": {s}, "value": {"v"}}
		r := httptest.NewRequest("POST", "/x", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if req, err := produceForm(r); err == nil {
			for _, h := range req.Headers {
				if h.Key == "" {
					t.Fatalf("%q: empty header name accepted", s)
				}
			}
		}
	})
}

// FuzzDiffLines: the diff of a and b keeps a's lines (" " and "-") and b's lines (" " and
// "+") in order.
func FuzzDiffLines(f *testing.F) {
	f.Add(`{"type":"string"}`, `{"type":"int"}`)
	f.Add("a\nb\nc", "a\nc\nd")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4000 || len(b) > 4000 {
			return
		}
		var gotA, gotB []string
		for _, l := range diffLines(a, b) {
			switch l.Op {
			case " ":
				gotA, gotB = append(gotA, l.Text), append(gotB, l.Text)
			case "-":
				gotA = append(gotA, l.Text)
			case "+":
				gotB = append(gotB, l.Text)
			default:
				t.Fatalf("op %q", l.Op)
			}
		}
		if strings.Join(gotA, "\n") != pretty(a) || strings.Join(gotB, "\n") != pretty(b) {
			t.Fatalf("diff of %q and %q does not rebuild them", a, b)
		}
	})
}
