package harness

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
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
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg string, within time.Duration) error {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if !bytes.Equal(buf, []byte(msg)) {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
	return nil
}

// TestProxyFaults: bytes pass unchanged; a delay holds every chunk at least that long; a
// blackhole holds bytes (a read times out) and delivers them unchanged once healed; a
// reset closes open connections; a reset rate of 1 refuses new ones.
func TestProxyFaults(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(t, c, "hello", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	p.SetDelay(150 * time.Millisecond)
	start := time.Now()
	if err := roundTrip(t, c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rt := time.Since(start); rt < 300*time.Millisecond { // delayed each way
		t.Fatalf("round trip through a 150ms delay took %v", rt)
	}
	p.SetDelay(0)

	p.SetBlackhole(true, true)
	err = roundTrip(t, c, "held", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("through a blackhole: %v, want a timeout", err)
	}
	p.SetBlackhole(false, false)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after healing: %q %v", buf, err)
	}

	// One-way: toward the target only.
	p.SetBlackhole(true, false)
	if err := roundTrip(t, c, "one", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("one-way blackhole: %v", err)
	}
	p.SetBlackhole(false, false)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf[:3]); err != nil || string(buf[:3]) != "one" {
		t.Fatalf("after one-way heal: %q %v", buf[:3], err)
	}

	p.ResetAll()
	if err := roundTrip(t, c, "gone", 5*time.Second); err == nil {
		t.Fatal("a reset connection still echoes")
	}

	p.SetResetRate(1)
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		if err := roundTrip(t, c2, "x", 5*time.Second); err == nil {
			t.Fatal("a connection through a reset rate of 1 worked")
		}
		c2.Close()
	}
	p.SetResetRate(0)
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(t, c3, "back", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
