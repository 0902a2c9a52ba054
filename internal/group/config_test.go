package group

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero", Config{}, ""},
		{"custom", Config{NumPartitions: 3, MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, InitialRebalanceDelay: -1, MaxSize: 10}, ""},
		{"negative partitions", Config{NumPartitions: -1}, "NumPartitions"},
		{"negative min session", Config{MinSessionTimeout: -time.Second}, "MinSessionTimeout"},
		{"negative max session", Config{MaxSessionTimeout: -time.Second}, "MaxSessionTimeout"},
		{"min above max", Config{MinSessionTimeout: time.Hour, MaxSessionTimeout: time.Minute}, "above"},
		{"min above default max", Config{MinSessionTimeout: time.Hour}, "above"},
		{"negative retention", Config{OffsetsRetention: -time.Hour}, "OffsetsRetention"},
		{"negative check interval", Config{OffsetsRetentionCheckInterval: -time.Hour}, "OffsetsRetentionCheckInterval"},
		{"negative max size", Config{MaxSize: -2}, "MaxSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(tc.cfg, NewMemStore(), Options{}); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want error mentioning %q", err, tc.wantErr)
			}
			if _, err := New(tc.cfg, NewMemStore(), Options{}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	d := Config{}.withDefaults()
	want := Config{
		NumPartitions:                 50,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
		ConsumerMigrationPolicy:       MigrationBidirectional,
	}
	if d != want {
		t.Fatalf("defaults = %+v, want %+v", d, want)
	}
	if d := (Config{InitialRebalanceDelay: -1}).withDefaults(); d.InitialRebalanceDelay >= 0 {
		t.Fatalf("negative delay became %v", d.InitialRebalanceDelay)
	}
}

// The partition picker itself is tested in internal/coord.
func TestPartitionMatchesKafka(t *testing.T) {
	c, err := New(Config{}, NewMemStore(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Partition("my-group"); p != 12 {
		t.Fatalf("Coordinator.Partition = %d, want 12", p)
	}
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(epoch)
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	a := c.AfterFunc(time.Second, func() {
		fired = append(fired, "a")
		// Scheduled while advancing, due within the same Advance.
		c.AfterFunc(500*time.Millisecond, func() { fired = append(fired, "a2") })
	})
	stopped := c.AfterFunc(1500*time.Millisecond, func() { fired = append(fired, "stopped") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if got := c.Deadlines(); len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Fatalf("Deadlines = %v", got)
	}
	c.Advance(1999 * time.Millisecond)
	if strings.Join(fired, ",") != "a,a2" {
		t.Fatalf("fired %v after 1.999s", fired)
	}
	if a.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported pending")
	}
	c.Advance(time.Second)
	if strings.Join(fired, ",") != "a,a2,b,a" {
		t.Fatalf("fired %v", fired)
	}
	c.Advance(500 * time.Millisecond)
	if strings.Join(fired, ",") != "a,a2,b,a,a2" {
		t.Fatalf("fired %v", fired)
	}
	if !c.Now().Equal(epoch.Add(3499 * time.Millisecond)) {
		t.Fatalf("Now = %v", c.Now())
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d", c.Pending())
	}
}
