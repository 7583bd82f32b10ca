package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustAppend(t testing.TB, f Frame) []byte {
	t.Helper()
	b, err := AppendFrame(nil, f)
	if err != nil {
		t.Fatalf("AppendFrame(%+v): %v", f, err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	tests := []struct {
		name string
		f    Frame
	}{
		{"empty ping", Frame{Type: TypePing}},
		{"query with id and deadline", Frame{Type: TypeQuery, RequestID: "0123456789abcdef0123456789abcdef", Deadline: deadline, Payload: []byte(`{"q":"why"}`)}},
		{"max id", Frame{Type: TypeShardList, RequestID: strings.Repeat("x", MaxRequestID)}},
		{"ok response", Response(Frame{Type: TypeManifest, RequestID: "r1"}, []byte("manifest"))},
		{"error response", ErrorResponse(Frame{Type: TypeReport, RequestID: "r2"}, CodeNotFound, "shard \"x\" not found")},
		{"error response echoes unknown type", ErrorResponse(Frame{Type: 999}, CodeUnknownType, "unknown")},
		{"big payload written in two writes", Frame{Type: TypeChunks, Payload: bytes.Repeat([]byte{7}, smallFrame+1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), mustAppend(t, tc.f)) {
				t.Fatal("WriteFrame and AppendFrame disagree")
			}
			got, err := ReadFrame(&buf, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.f.Payload) == 0 {
				tc.f.Payload = nil
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Fatalf("got %+v, want %+v", got, tc.f)
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes left unread", buf.Len())
			}
			if _, err := ReadFrame(&buf, Limits{}); err != io.EOF {
				t.Fatalf("read at end: got %v, want io.EOF", err)
			}
		})
	}
}

// patch returns a valid encoded frame with fn applied to its bytes.
func patch(t *testing.T, f Frame, fn func(b []byte) []byte) []byte {
	return fn(mustAppend(t, f))
}

func TestReadFrameRejects(t *testing.T) {
	query := Frame{Type: TypeQuery, RequestID: "req-7", Payload: []byte("hello")}
	tests := []struct {
		name     string
		in       []byte
		limits   Limits
		want     error
		msg      string // substring of the error message
		wantType Type   // header decoded despite the error
		wantID   string
	}{
		{"bad magic", []byte("GET / HTTP/1.1\r\n"), Limits{}, ErrMalformed, "magic", 0, ""},
		{"future version", patch(t, query, func(b []byte) []byte { b[2] = 9; return b }), Limits{}, ErrVersion, "version 9", 0, ""},
		{"reserved flag", patch(t, query, func(b []byte) []byte { b[3] = 0x80; return b }), Limits{}, ErrMalformed, "reserved flag", TypeQuery, "req-7"},
		{"status on request", patch(t, query, func(b []byte) []byte { b[7] = 3; return b }), Limits{}, ErrMalformed, "only responses", TypeQuery, "req-7"},
		{"negative deadline", patch(t, query, func(b []byte) []byte { b[8] = 0x80; return b }), Limits{}, ErrMalformed, "negative deadline", TypeQuery, "req-7"},
		{"id too long", patch(t, query, func(b []byte) []byte { b[20] = MaxRequestID + 1; return b }), Limits{}, ErrMalformed, "request id length", TypeQuery, ""},
		{"id with space", patch(t, query, func(b []byte) []byte { b[21] = ' '; return b }), Limits{}, ErrMalformed, "printable", TypeQuery, " eq-7"},
		{"unknown type", patch(t, query, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 4242); return b }), Limits{}, ErrUnknownType, "4242", 4242, "req-7"},
		{"type zero", patch(t, query, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 0); return b }), Limits{}, ErrUnknownType, "unknown", 0, "req-7"},
		{"over registered limit", patch(t, Frame{Type: TypeQuery, RequestID: "big"}, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[16:], DefaultMaxPayload+1)
			return b
		}), Limits{}, ErrTooLarge, "limit of 1048576", TypeQuery, "big"},
		{"over caller limit", mustAppend(t, query), Limits{Payload: map[Type]int{TypeQuery: 4}}, ErrTooLarge, "5 bytes", TypeQuery, "req-7"},
		{"error message too long", patch(t, ErrorResponse(query, CodeInternal, "x"), func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[16:], MaxMessage+1)
			return b
		}), Limits{}, ErrTooLarge, "message", TypeQuery, "req-7"},
		{"truncated prefix", []byte{magic0, magic1}, Limits{}, ErrTruncated, "header", 0, ""},
		{"truncated header", mustAppend(t, query)[:10], Limits{}, ErrTruncated, "header", 0, ""},
		{"truncated id", mustAppend(t, query)[:headerLen+2], Limits{}, ErrTruncated, "request id", TypeQuery, ""},
		{"truncated payload", mustAppend(t, query)[:headerLen+5+2], Limits{}, ErrTruncated, "payload", TypeQuery, "req-7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ReadFrame(bytes.NewReader(tc.in), tc.limits)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if f.Type != tc.wantType || f.RequestID != tc.wantID {
				t.Errorf("decoded header type=%d id=%q, want type=%d id=%q", f.Type, f.RequestID, tc.wantType, tc.wantID)
			}
			if f.Payload != nil {
				t.Error("payload returned with an error")
			}
		})
	}
}

func TestAppendFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want error
	}{
		{"long id", Frame{Type: TypePing, RequestID: strings.Repeat("a", MaxRequestID+1)}, ErrMalformed},
		{"control char in id", Frame{Type: TypePing, RequestID: "a\nb"}, ErrMalformed},
		{"status on request", Frame{Type: TypePing, Status: CodeInternal}, ErrMalformed},
		{"reserved flag", Frame{Type: TypePing, Flags: 2}, ErrMalformed},
		{"negative deadline", Frame{Type: TypePing, Deadline: -1}, ErrMalformed},
		{"long error message", Frame{Type: TypePing, Flags: FlagResponse, Status: CodeInternal, Payload: make([]byte, MaxMessage+1)}, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AppendFrame(nil, tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err := WriteFrame(io.Discard, tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("WriteFrame: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	req := Frame{Type: TypeChunks, RequestID: "abc", Payload: []byte("ignored")}
	long := strings.Repeat("é", MaxMessage) // 2 bytes a rune: the cut must not split one
	tests := []struct {
		name     string
		code     Code
		msg      string
		wantCode Code
		wantLen  int
	}{
		{"plain", CodeNotFound, "no such shard", CodeNotFound, len("no such shard")},
		{"ok is not an error", CodeOK, "oops", CodeInternal, 4},
		{"cut on rune boundary", CodeInternal, long, CodeInternal, MaxMessage},
		{"invalid utf-8 repaired", CodeBadRequest, "a\xffb", CodeBadRequest, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ErrorResponse(req, tc.code, tc.msg)
			if f.Status != tc.wantCode || !f.IsResponse() || f.Type != req.Type || f.RequestID != req.RequestID {
				t.Fatalf("bad frame %+v", f)
			}
			if len(f.Payload) != tc.wantLen || !utf8.ValidString(f.Message()) {
				t.Fatalf("message %q (%d bytes), want %d bytes", f.Message(), len(f.Payload), tc.wantLen)
			}
			if _, err := AppendFrame(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want Code
	}{
		{nil, CodeOK},
		{ErrTooLarge, CodeTooLarge},
		{ErrUnknownType, CodeUnknownType},
		{ErrVersion, CodeUnsupported},
		{ErrMalformed, CodeBadRequest},
		{ErrTruncated, CodeBadRequest},
		{io.ErrClosedPipe, CodeInternal},
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	idempotent := map[Type]bool{TypePing: true, TypeQuery: true, TypeShardList: true, TypeManifest: true, TypeChunks: true, TypeReport: false,
		TypeModelManifest: true, TypeModelBlob: true, TypeSyncVersions: true}
	types := Types()
	if len(types) != len(idempotent) {
		t.Fatalf("registry has %d types, want %d", len(types), len(idempotent))
	}
	for _, info := range types {
		if want, ok := idempotent[info.Type]; !ok || info.Idempotent != want || info.Type.Idempotent() != want {
			t.Errorf("%s: idempotent=%v, want %v", info.Type, info.Idempotent, want)
		}
		if info.MaxPayload < DefaultMaxPayload {
			t.Errorf("%s: max payload %d below the default", info.Type, info.MaxPayload)
		}
	}
	if _, ok := Lookup(0, TypePing); ok {
		t.Error("version 0 should know no types")
	}
	if (Limits{}).MaxPayload(TypeChunks) != MaxChunkBatch || (Limits{Payload: map[Type]int{TypeChunks: 10}}).MaxPayload(TypeChunks) != 10 {
		t.Error("limits do not apply registered sizes and overrides")
	}
	if Type(77).String() != "type-77" || TypeChunks.String() != "chunks" {
		t.Error("bad type names")
	}
}

// TestNoAllocationForClaimedSize checks that a frame claiming a big payload
// but cut short allocates in proportion to its real size: a hostile or
// broken peer must not make an edge node allocate megabytes with a header.
func TestNoAllocationForClaimedSize(t *testing.T) {
	b := patch(t, Frame{Type: TypeChunks}, func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[16:], MaxChunkBatch)
		return append(b, make([]byte, 100)...)
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := ReadFrame(bytes.NewReader(b), Limits{}); !errors.Is(err, ErrTruncated) {
			t.Fatalf("got %v, want ErrTruncated", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 128<<10 {
		t.Fatalf("a truncated frame claiming %d bytes allocated %d bytes", MaxChunkBatch, per)
	}
}

func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{0, 1 << 10, 256 << 10} {
		enc := mustAppend(b, Frame{Type: TypeChunks, RequestID: "0123456789abcdef0123456789abcdef", Deadline: 1, Payload: make([]byte, size)})
		b.Run(byteSize(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			r := bytes.NewReader(enc)
			for b.Loop() {
				r.Reset(enc)
				if _, err := ReadFrame(r, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	for _, size := range []int{0, 1 << 10, 256 << 10} {
		f := Frame{Type: TypeChunks, RequestID: "0123456789abcdef0123456789abcdef", Deadline: 1, Payload: make([]byte, size)}
		b.Run(byteSize(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(headerLen + len(f.RequestID) + size))
			for b.Loop() {
				if err := WriteFrame(io.Discard, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string { return strconv.Itoa(n) + "B" }
