package harness

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// listenIn starts an echo listener inside ns on port 7000.
func listenIn(t *testing.T, ns *Namespace) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", ns.IP+":7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
}

// reach dials addr from ns (nil: the root namespace) and echoes a byte.
func reach(ns *Namespace, addr string) error {
	var c net.Conn
	dial := func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 500*time.Millisecond)
		return err
	}
	var err error
	if ns == nil {
		err = dial()
	} else {
		err = ns.Do(dial)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte{1}); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

// TestNetworkIsolate: nodes in namespaces reach each other and are reached from the root
// namespace; Isolate cuts a node off from its peers (both ways) but not from the root
// namespace, where clients run; Heal restores the links.
func TestNetworkIsolate(t *testing.T) {
	n := NewNetwork(t)
	a, b, c := n.Add(), n.Add(), n.Add()
	for _, ns := range []*Namespace{a, b, c} {
		listenIn(t, ns)
	}
	addrA, addrB := a.IP+":7000", b.IP+":7000"
	for _, link := range []struct {
		from *Namespace
		to   string
	}{{nil, addrA}, {b, addrA}, {a, addrB}, {c, addrA}} {
		if err := reach(link.from, link.to); err != nil {
			t.Fatalf("before the cut, %v → %s: %v", link.from, link.to, err)
		}
	}
	if err := a.Isolate(b, c); err != nil {
		t.Fatal(err)
	}
	if err := reach(nil, addrA); err != nil {
		t.Fatalf("a client in the root namespace lost the isolated node: %v", err)
	}
	for _, link := range []struct {
		from *Namespace
		to   string
	}{{b, addrA}, {a, addrB}, {c, addrA}} {
		err := reach(link.from, link.to)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("across the cut, %s → %s: %v, want a timeout (packets dropped)", link.from.Name, link.to, err)
		}
	}
	if err := reach(b, c.IP+":7000"); err != nil {
		t.Fatalf("the two others lost each other: %v", err)
	}
	if err := a.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := reach(b, addrA); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}
