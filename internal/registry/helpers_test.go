package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// newSR returns franz-go's schema registry client for the registry at url.
func newSR(t testing.TB, url string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantErr checks err is the registry error with HTTP status and Confluent error code.
func wantErr(t testing.TB, what string, err error, status, code int) {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T), want a registry error %d/%d", what, err, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s: HTTP %d error_code %d (%s), want %d/%d", what, re.StatusCode, re.ErrorCode, re.Message, status, code)
	}
}

// call sends a raw request and returns the status, the error_code of an error body (0 if
// none) and the body.
func call(t testing.TB, method, url, body string) (status, code int, raw []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Message == "" {
			t.Errorf("%s %s: error body %q is not Confluent's {error_code, message}", method, url, raw)
		}
		code = e.ErrorCode
	}
	return resp.StatusCode, code, raw
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, testwait.True(cond))
}

// Schemas used across the tests.
const (
	userV1 = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"}]}`
	userV2 = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}`
	// userV1Pretty is userV1 formatted differently: the same schema.
	userV1Pretty = "{\n  \"namespace\": \"acme\",\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [ { \"type\": \"long\", \"name\": \"id\" } ]\n}"
	// userBad adds a field without a default: not BACKWARD compatible with userV1.
	userBad = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"age","type":"int"}]}`
)

// newAdmin returns a franz-go admin client for the broker at addr.
func newAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
