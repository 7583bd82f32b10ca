package wire

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the decoder. It must never panic,
// never allocate more than the limits allow (the limits here are small, so
// a bug shows as a failed allocation check rather than an OOM), and every
// frame it accepts must encode back to exactly the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	seeds := []Frame{
		{Type: TypePing},
		{Type: TypeQuery, RequestID: "abc", Deadline: 1700000000000000000, Payload: []byte(`{"question":"q"}`)},
		{Type: TypeChunks, Payload: make([]byte, 300)},
		Response(Frame{Type: TypeManifest, RequestID: "m"}, []byte("{}")),
		ErrorResponse(Frame{Type: 999, RequestID: "x"}, CodeUnknownType, "unknown type 999"),
	}
	for _, s := range seeds {
		b, err := AppendFrame(nil, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{magic0, magic1, Version, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0})

	limits := Limits{Payload: map[Type]int{TypeChunks: 4 << 10, TypeManifest: 1 << 10, TypeQuery: 1 << 10, TypePing: 64, TypeShardList: 64, TypeReport: 64}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		got, err := ReadFrame(r, limits)
		if err == io.EOF {
			return
		}
		if err != nil {
			if got.Payload != nil {
				t.Fatal("payload returned with an error")
			}
			if CodeOf(err) == CodeInternal {
				t.Fatalf("reading from memory failed with an unclassified error: %v", err)
			}
			return
		}
		if max := limits.MaxPayload(got.Type); len(got.Payload) > max && !(got.IsResponse() && got.Status != CodeOK) {
			t.Fatalf("accepted %d-byte payload over the %d limit", len(got.Payload), max)
		}
		consumed := data[:len(data)-r.Len()]
		enc, err := AppendFrame(nil, got)
		if err != nil {
			t.Fatalf("accepted frame does not encode: %v", err)
		}
		if !bytes.Equal(enc, consumed) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, consumed)
		}
		again, err := ReadFrame(bytes.NewReader(enc), limits)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("second decode: %+v, %v; want %+v", again, err, got)
		}
	})
}
