package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// backupFake writes data, then fails with err when it is set.
type backupFake struct {
	*chatFake
	data string
	err  error
}

func (b *backupFake) Backup(_ context.Context, w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, b.data)
	return int64(n), b.err
}

// TestBackupComplete: the client accepts a backup only when the node sent
// all of it, which a backup that fails midway (status 200 already sent)
// does not.
func TestBackupComplete(t *testing.T) {
	for _, c := range []struct {
		fail error
		want string
	}{{nil, ""}, {errors.New("disk error"), "backup incomplete"}} {
		h := NewHandler(&backupFake{chatFake: &chatFake{}, data: strings.Repeat("x", 100000), err: c.fail}, nil)
		RegisterBackup(h)
		srv := httptest.NewServer(h)
		var buf bytes.Buffer
		n, err := NewClient(srv.URL, nil).Backup(context.Background(), &buf)
		srv.Close()
		switch {
		case c.want == "" && (err != nil || n != 100000 || buf.Len() != 100000):
			t.Errorf("complete backup: %d bytes, %v", n, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("failed backup: %v", err)
		}
	}
	// Without a BackupService there is no such endpoint, in JSON.
	w := do(NewHandler(&chatFake{}, nil), http.MethodGet, "/v1/backup", "", "")
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"not_found"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
