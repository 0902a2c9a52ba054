package interop

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A flexible request whose tagged-field count claims 2^31 fields in a 9-byte body makes
// kmsg's decoder spin for over a minute after its input runs out, so a close within 15 s can
// only come from the broker's decode budget. The broker must drop that
// connection once the decode exceeds its budget, say why in its log, and keep serving others.
// (This lives here, not in internal/broker, because the suite there runs under -race, where
// the spinning decoder would cost minutes of CPU.)
func TestHugeTaggedFieldCountClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Metadata v12: header (key 3, version 12, correlation 1, null client id, no header tags),
	// body: zero topics (compact array length 1), two booleans, then a tag count of 2^31.
	body := []byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0, 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08}
	frame := append([]byte{0, 0, 0, byte(len(body))}, body...)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("broker did not close the connection: %v", err)
	}
	adm := kadm.NewClient(newKgo(t, addr))
	ctx := testCtx(t, 30*time.Second)
	if _, err := adm.ListTopics(ctx); err != nil {
		t.Fatalf("broker stopped serving other clients: %v", err)
	}
}
