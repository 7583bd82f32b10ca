package shardstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgerag/edgerag/node/shard"
)

func TestTextCodecRoundTrip(t *testing.T) {
	long := strings.Repeat("the pump seal leaks when the impeller housing is loose; ", 20)
	for _, tc := range []struct {
		name, text string
		smaller    bool // stored deflated, in fewer bytes
	}{
		{"empty", "", false},
		{"short", "a seal", false},
		{"prose", long, true},
		{"unicode", strings.Repeat("Dichtung prüfen — 密封 ", 10), true},
		{"incompressible", "qZ8#kL2!vB9@xM4$wN7%pR1^tY6&uC3*hJ5(gF0)dS", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := encodeText(tc.text)
			if got := len(v) > 0 && v[0] == textDeflated; got != tc.smaller {
				t.Fatalf("deflated %v, want %v", got, tc.smaller)
			}
			if tc.smaller && len(v) >= len(tc.text)*3/4 {
				t.Fatalf("stored %d bytes for %d of text", len(v), len(tc.text))
			}
			got, err := decodeText(v)
			if err != nil || got != tc.text {
				t.Fatalf("decoded %q, %v; want the text back", got, err)
			}
		})
	}
}

// A store written before texts were deflated holds them as they are; they
// must read back unchanged.
func TestTextsWrittenRawStillRead(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	raw := strings.Repeat("an old text stored before deflate ", 8)
	id := shard.HashText(raw)
	must(t, s.update(func(txn *badger.Txn) error { return txn.Set(textKey(id), []byte(raw)) }))
	texts, err := s.Texts([]shard.ChunkID{id})
	if err != nil || texts[0] != raw {
		t.Fatalf("read %q, %v", texts, err)
	}
}

func TestStoredTextsAreDeflated(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	text := strings.Repeat("check the bearing temperature before restarting the line ", 12)
	_, err := s.Apply(context.Background(), Write{Shard: "a", Puts: []DocWrite{docWrite("d1", text)}, Now: time.Unix(2, 0)})
	must(t, err)
	var stored int
	must(t, s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(textKey(shard.HashText(text)))
		if err == nil {
			stored = int(item.ValueSize())
		}
		return err
	}))
	if stored >= len(text)/2 {
		t.Fatalf("stored %d bytes for %d of repetitive text", stored, len(text))
	}
	texts, err := s.Texts([]shard.ChunkID{shard.HashText(text)})
	if err != nil || texts[0] != text {
		t.Fatalf("read back %q, %v", texts, err)
	}
}

func FuzzDecodeText(f *testing.F) {
	f.Add(encodeText(strings.Repeat("seal pump ", 30)))
	f.Add([]byte{textDeflated, 0x01, 0x02})
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeText(v)
		if err != nil && !errors.Is(err, errCorruptText) {
			t.Fatalf("error %v does not wrap errCorruptText", err)
		}
		if err == nil && (len(v) == 0 || v[0] != textDeflated) && got != string(v) {
			t.Fatalf("a text stored as it is read back as %q", got)
		}
	})
}
