package mapfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMappings: a private mapping's writes stay in the process, a shared
// one's reach the file, and a read-only one sees the file's bytes.
func TestMappings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("edgerag "), 1024)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ro, err := ReadOnly(f, len(want))
	if err != nil || !bytes.Equal(ro, want) {
		t.Fatalf("read-only mapping: %v, equal %v", err, bytes.Equal(ro, want))
	}
	p, err := Private(f, len(want))
	if err != nil {
		t.Fatal(err)
	}
	p[0] = 'X'
	if got, _ := os.ReadFile(path); got[0] != 'e' {
		t.Fatal("a private mapping's write reached the file")
	}
	s, err := Shared(f, len(want))
	if err != nil {
		t.Fatal(err)
	}
	s[0] = 'Y'
	for _, b := range [][]byte{ro, p, s} {
		if err := Unmap(b); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(path); got[0] != 'Y' && len(s) > 0 {
		t.Skip("no mmap on this platform: the shared mapping is heap memory")
	}
}

// TestOpenPrivate maps a whole file by name and refuses an empty one.
func TestOpenPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := OpenPrivate(path)
	if err != nil || string(b) != "graph" {
		t.Fatalf("OpenPrivate = %q, %v", b, err)
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPrivate(empty); err == nil {
		t.Fatal("an empty file was mapped")
	}
	if _, err := OpenPrivate(filepath.Join(dir, "absent")); err == nil {
		t.Fatal("an absent file was mapped")
	}
}
