package membership

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringFile(t *testing.T) {
	dir := t.TempDir()
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := GenerateKey()
	path := filepath.Join(dir, "keyring")
	if err := WriteKeyring(path, []string{k1, k2}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keyring written with mode %04o; want 0600", st.Mode().Perm())
	}
	keys, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || len(keys[0]) != KeySize {
		t.Fatalf("loaded %d keys", len(keys))
	}
	if err := WriteKeyring(path, []string{k1}); err == nil || !strings.Contains(err.Error(), "keys rotate") {
		t.Errorf("overwriting a keyring: err = %v; want a refusal pointing at keys rotate", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable keyring: err = %v; want a refusal saying chmod 600", err)
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"not json", `key`, "JSON array"},
		{"empty", `[]`, "no key"},
		{"not base64", `["!!!"]`, "base64"},
		{"short key", `["AAAA"]`, "want 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKeyring([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	lan, edge := LAN(), Edge()
	// What the issue asks of the edge profile relative to lan.
	if !(edge.ProbeInterval > lan.ProbeInterval && edge.ProbeTimeout > lan.ProbeTimeout &&
		edge.SuspicionMult > lan.SuspicionMult && edge.GossipNodes < lan.GossipNodes &&
		edge.PushPullInterval > lan.PushPullInterval) {
		t.Errorf("edge profile %+v is not WAN-like relative to lan %+v", edge, lan)
	}
	for _, p := range []Profile{lan, edge} {
		if p.ProbeTimeout >= p.ProbeInterval {
			t.Errorf("%s: probe timeout %v must be below the interval %v", p.Name, p.ProbeTimeout, p.ProbeInterval)
		}
		got, err := ProfileByName(p.Name)
		if err != nil || got != p {
			t.Errorf("ProfileByName(%q) = %+v, %v", p.Name, got, err)
		}
	}
	if _, err := ProfileByName("wan"); err == nil {
		t.Error("unknown profile accepted")
	}
	best, worst := lan.FailureDetection(5)
	if best != 4500e6 || worst != 13500e6 {
		t.Errorf("lan detection at 5 members = %v..%v; want 4.5s..13.5s", best, worst)
	}
	if b, _ := lan.FailureDetection(1000); b <= best {
		t.Error("detection does not grow with the pool")
	}
}

func TestValidLabel(t *testing.T) {
	for _, l := range []string{"edgerag", "plant-7/line-2"} {
		if err := ValidLabel(l); err != nil {
			t.Errorf("ValidLabel(%q) = %v", l, err)
		}
	}
	for _, l := range []string{"", "a b", strings.Repeat("x", 256), "é"} {
		if err := ValidLabel(l); err == nil {
			t.Errorf("ValidLabel(%q) accepted", l)
		}
	}
}
