package security

import (
	"context"
	"testing"
)

// FuzzScramClientFirst and FuzzScramClientFinal feed arbitrary client messages to the SCRAM
// parsers and to a server session: they must return an error or a well-formed answer, never
// panic.
func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{"n,,n=user,r=abc", "y,a=user,n=user,r=x,ext=1", "p=tls-unique,,n=u,r=x", ",,n=u,r=x",
		"n,,m=ext,n=u,r=x", "n,,n=a=2Cb,r=x", "n,,n=a=ZZ,r=x", "n", "", "n,,n=u,r=x,tokenauth=true"} {
		f.Add(s)
	}
	n, _ := NewNode(context.Background(), Config{})
	c, _ := NewScramCredential(ScramSHA256, "pw", 4096)
	n.AlterScram(context.Background(), []ScramChange{{User: "user", Mechanism: ScramSHA256, Credential: &c}})
	f.Fuzz(func(t *testing.T, msg string) {
		gs2, user, nonce, bare, err := ParseScramClientFirst(msg)
		if err == nil && (user == "" || nonce == "" || gs2 == "" || bare == "") {
			t.Fatalf("accepted %q with empty parts", msg)
		}
		s, _ := n.NewSession("SCRAM-SHA-256", []Mechanism{ScramSHA256})
		resp, done, err := s.Step([]byte(msg))
		if done || (err == nil) != (resp != nil) {
			t.Fatalf("step 1 of %q: done=%v resp=%q err=%v", msg, done, resp, err)
		}
	})
}

func FuzzScramClientFinal(f *testing.F) {
	for _, s := range []string{"c=biws,r=abc,p=AAAA", "c=biws,r=abc,ext=x,p=", "c=!!,r=a,p=AA==", "p=", ",p=AAAA", "c=biws,p=AAAA"} {
		f.Add(s)
	}
	n, _ := NewNode(context.Background(), Config{})
	c, _ := NewScramCredential(ScramSHA512, "pw", 4096)
	n.AlterScram(context.Background(), []ScramChange{{User: "user", Mechanism: ScramSHA512, Credential: &c}})
	f.Fuzz(func(t *testing.T, msg string) {
		ParseScramClientFinal(msg)
		s, _ := n.NewSession("SCRAM-SHA-512", []Mechanism{ScramSHA512})
		if _, _, err := s.Step([]byte("n,,n=user,r=abc")); err != nil {
			t.Fatal(err)
		}
		// The fuzzer cannot forge a proof: anything it sends must fail.
		if _, done, err := s.Step([]byte(msg)); done || err == nil {
			t.Fatalf("client-final %q accepted", msg)
		}
	})
}

func FuzzPlain(f *testing.F) {
	for _, s := range []string{"\x00user\x00pw", "a\x00b\x00c", "", "\x00\x00", "x\x00user\x00pw\x00"} {
		f.Add([]byte(s))
	}
	n, _ := NewNode(context.Background(), Config{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		ParsePlain(msg)
		s, _ := n.NewSession("PLAIN", []Mechanism{PLAIN})
		if _, done, err := s.Step(msg); done || err == nil {
			t.Fatalf("PLAIN %q accepted with no users", msg)
		}
	})
}

func FuzzPrincipalMappingRules(f *testing.F) {
	for _, s := range []string{"DEFAULT", "RULE:^CN=(.*)$/$1/L,DEFAULT", "RULE:a\\/b/c/U", "RULE:(/x/", ""} {
		f.Add(s, "CN=alice,O=x")
	}
	f.Fuzz(func(t *testing.T, rules, subject string) {
		m, err := ParsePrincipalMappingRules(rules)
		if err != nil {
			return
		}
		m.Map(subject)
	})
}
