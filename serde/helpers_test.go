package serde

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// fakeRegistry is franz-go's in-memory registry with a log of the requests
// it served, for tests of what the client caches.
type fakeRegistry struct {
	*srfake.Registry
	mu   sync.Mutex
	reqs []string // "METHOD /path"
}

func newFakeRegistry(t testing.TB) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{Registry: srfake.New()}
	t.Cleanup(f.Close)
	f.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		return false
	})
	return f
}

// count is how many served requests start with prefix ("GET /schemas/ids/").
func (f *fakeRegistry) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeRegistry) total() int { return f.count("") }

// client returns a caching Registry talking to f.
func (f *fakeRegistry) client(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(RegistryConfig{URLs: []string{f.URL()}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
