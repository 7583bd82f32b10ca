package agent

import "testing"

func TestEnrollDefaultAddr(t *testing.T) {
	for _, tc := range []struct{ quicFlag, bound, want string }{
		{"0.0.0.0:7443", "[::]:7443", "[::]:7443"},        // one address serves QUIC and enrollment
		{"127.0.0.1:0", "127.0.0.1:60020", "127.0.0.1:0"}, // the UDP port's number may be taken on TCP
		{":0", "[::]:51000", ":0"},
		{"", "[::]:7443", "[::]:7443"},
	} {
		if got := enrollDefaultAddr(tc.quicFlag, tc.bound); got != tc.want {
			t.Errorf("enrollDefaultAddr(%q, %q) = %q, want %q", tc.quicFlag, tc.bound, got, tc.want)
		}
	}
}
