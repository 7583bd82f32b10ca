package manifest

import (
	"bytes"
	"testing"
	"time"
)

// FuzzUnmarshal feeds arbitrary bytes to every decoder. None may panic, and
// whatever one accepts must encode back to exactly the same bytes: that is
// what makes the encodings canonical, so that a signature covers meaning.
func FuzzUnmarshal(f *testing.F) {
	_, priv := testKey(f, 9)
	s := sampleShard(3)
	sb, _ := s.Marshal()
	f.Add(sb)
	signed, _ := SignShard(priv, &s)
	f.Add(signed)
	r := Record{DocID: "d", Title: "t", Position: 2, Text: "x", Metadata: map[string]string{"k": "v"}}
	rb, _ := r.Marshal()
	f.Add(rb)
	c := Config{Version: 1, Created: time.Unix(1, 0), Settings: []Setting{{"a", "1"}}}
	cb, _ := c.Marshal()
	f.Add(cb)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := UnmarshalShard(b); err == nil {
			out, err := m.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("shard manifest not canonical: %v", err)
			}
		}
		if m, err := UnmarshalModels(b); err == nil {
			out, err := m.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("model manifest not canonical: %v", err)
			}
		}
		if m, err := UnmarshalConfig(b); err == nil {
			out, err := m.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("config manifest not canonical: %v", err)
			}
		}
		if m, err := UnmarshalRecord(b); err == nil {
			out, err := m.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("record not canonical: %v", err)
			}
		}
		if e, err := UnmarshalEnvelope(b); err == nil {
			if !bytes.Equal(e.Marshal(), b) {
				t.Fatal("envelope not canonical")
			}
		}
	})
}
