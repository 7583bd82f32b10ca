package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEscapesRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
		want       string
	}{
		{"plain text", `{"id":"a","body":"pump"}`, true, ""},
		{"surrogate pair", `{"id":"a","body":"\ud83d\ude00"}`, true, ""},
		{"escaped backslash then u", `{"id":"a","body":"C:\\ud800"}`, true, ""},
		{"other escapes", `{"id":"a","body":"tab\t quote\" \u00e9 \u001f"}`, true, ""},
		{"lone high surrogate", `{"id":"a","body":"x\ud800y"}`, false, "unpaired UTF-16 surrogate \\ud800"},
		{"high then non-surrogate", `{"id":"a","body":"\ud800\u0041"}`, false, "unpaired"},
		{"lone low surrogate", `{"id":"a","body":"\udc00"}`, false, "a low surrogate must follow"},
		{"upper-case hex", `{"id":"a","body":"\uD800"}`, false, "unpaired"},
		{"NUL escape", `{"id":"a","body":"x\u0000"}`, false, "NUL character"},
		{"NUL in id", `{"id":"a\u0000","body":"x"}`, false, "NUL character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEscapes([]byte(tc.body))
			if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("checkEscapes(%s) = %v, want ok=%v %q", tc.body, err, tc.ok, tc.want)
			}
		})
	}
}

// The question of a query goes through the same check.
func TestQueryWithSurrogateRefused(t *testing.T) {
	h := NewHandler(&recorder{}, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/query", strings.NewReader(`{"question":"pump \udfff"}`)))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"code":"bad_request"`) {
		t.Fatalf("status %d body %s: want a 400 in the error shape", w.Code, w.Body)
	}
}

func TestRefuseBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{{"", true}, {`{"shard":"a"}`, false}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/sync", bytes.NewBufferString(tc.body))
		if got := RefuseBody(w, r); got != tc.ok {
			t.Fatalf("body %q: RefuseBody = %v, want %v", tc.body, got, tc.ok)
		}
		if !tc.ok && (w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "takes no request body")) {
			t.Fatalf("status %d body %s", w.Code, w.Body)
		}
	}
}
