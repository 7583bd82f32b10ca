package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeJSON: the body checks that endpoints registered from outside
// this package (sync, fleet keys) share with the API's own.
func TestDecodeJSON(t *testing.T) {
	type req struct {
		Shard string `json:"shard"`
	}
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		msg               string
	}{
		{"good", `{"shard":"manuals"}`, "application/json", http.StatusOK, ""},
		{"unknown field", `{"shrad":"manuals"}`, "", http.StatusBadRequest, `unknown field \"shrad\"`},
		{"wrong type", `{"shard":3}`, "", http.StatusBadRequest, "must be a JSON string, got number"},
		{"two values", `{"shard":"a"}{"shard":"b"}`, "", http.StatusBadRequest, "exactly one object"},
		{"not UTF-8", "{\"shard\":\"\xff\"}", "", http.StatusBadRequest, "not valid UTF-8"},
		{"empty", ``, "", http.StatusBadRequest, "empty"},
		{"too large", `{"shard":"` + strings.Repeat("x", 100) + `"}`, "", http.StatusRequestEntityTooLarge, "larger than 64 bytes"},
		{"form upload", `{}`, "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType, "send JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/publish", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			w := httptest.NewRecorder()
			var v req
			limit := int64(64)
			if !DecodeJSON(w, r, limit, &v) {
				if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.msg) {
					t.Fatalf("status %d body %s; want %d mentioning %q", w.Code, w.Body, tc.status, tc.msg)
				}
				return
			}
			if tc.status != http.StatusOK || v.Shard != "manuals" {
				t.Fatalf("accepted %q as %+v; want status %d", tc.body, v, tc.status)
			}
		})
	}
}
