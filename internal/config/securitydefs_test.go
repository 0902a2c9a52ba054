package config

import (
	"errors"
	"testing"
)

func TestListenerOverrides(t *testing.T) {
	b := DefaultBroker()
	if err := b.Set("listener.name.internal.ssl.client.auth", "required"); err != nil {
		t.Fatal(err)
	}
	if b.Raw["listener.name.internal.ssl.client.auth"] != "required" {
		t.Fatalf("override not kept in Raw: %v", b.Raw)
	}
	if err := b.Set("listener.name.internal.ssl.client.auth", "sometimes"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("bad override value: %v", err)
	}
	if err := b.Set("listener.name.internal.sasl.enabled.mechanisms", "GSSAPI"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("GSSAPI override accepted: %v", err)
	}
	for _, k := range []string{"listener.name.internal.num.io.threads", "listener.name.internal", "listener.name..ssl.client.auth",
		"listener.name.internal.scram-sha-256.sasl.jaas.config"} {
		if err := b.Set(k, "x"); !errors.Is(err, ErrUnknownConfig) {
			t.Errorf("Set(%s) = %v, want ErrUnknownConfig", k, err)
		}
	}
}
