package security

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"net/http"
	"sync"
	"time"
)

type principalKey struct{}

// PrincipalFrom returns the principal BasicAuth authenticated for a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authorizer decides whether an authenticated HTTP request may proceed.
type HTTPAuthorizer func(p Principal, r *http.Request) bool

// BasicAuth wraps h so that every request must carry HTTP basic credentials of a user of n
// (the same users and passwords as SASL). A request without valid credentials gets 401 with a
// WWW-Authenticate challenge for realm (after the failure delay of its address); one that
// authorize (if non-nil) refuses gets 403. The principal is in the request's context
// (PrincipalFrom). Verified passwords are remembered for a minute (keyed by an HMAC under a
// per-process key, never the password), so a client sending credentials on each request does
// not pay a PBKDF2 run each time.
func (n *Node) BasicAuth(realm string, h http.Handler, authorize HTTPAuthorizer) http.Handler {
	cache := &passwordCache{m: map[string]cachedPassword{}}
	rand.Read(cache.key[:])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		ip := r.RemoteAddr
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		if !ok || !cache.check(n, user, pass) {
			if ok {
				n.log.Warn("HTTP basic authentication failed", "remote", r.RemoteAddr, "user", user, "path", r.URL.Path)
				d := n.AuthFailed(ip)
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
			http.Error(w, `{"error_code":401,"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		n.AuthSucceeded(ip)
		p := UserPrincipal(user)
		if authorize != nil && !authorize(p, r) {
			http.Error(w, `{"error_code":403,"message":"Forbidden"}`, http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

type passwordCache struct {
	key [32]byte
	mu  sync.Mutex
	m   map[string]cachedPassword
}

type cachedPassword struct {
	mac       []byte
	storedKey []byte // the credential verified; a changed credential misses
	at        time.Time
}

const passwordCacheTTL = time.Minute

func (c *passwordCache) check(n *Node, user, pass string) bool {
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	sum := mac.Sum(nil)
	var cur []byte
	for _, m := range []Mechanism{ScramSHA512, ScramSHA256} {
		if cr, ok := n.ScramCredential(user, m); ok {
			cur = cr.StoredKey
			break
		}
	}
	if cur == nil {
		return false
	}
	c.mu.Lock()
	e, ok := c.m[user]
	c.mu.Unlock()
	if ok && time.Since(e.at) < passwordCacheTTL && hmac.Equal(e.mac, sum) && bytes.Equal(e.storedKey, cur) {
		return true
	}
	if !n.CheckPassword(user, pass) {
		return false
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		c.m = map[string]cachedPassword{}
	}
	c.m[user] = cachedPassword{mac: sum, storedKey: cur, at: time.Now()}
	c.mu.Unlock()
	return true
}
