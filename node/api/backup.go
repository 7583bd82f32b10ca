package api

// Online backup: GET /v1/backup streams a consistent copy of the node's
// store, which `edgerag backup FILE` saves and `edgerag restore` loads into
// an empty data directory, on this machine or another.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// BackupService is implemented by services that can copy their store.
type BackupService interface {
	// Backup writes a consistent copy of the store to w and returns the
	// bytes written.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// backupTrailer is set after the last byte of a complete backup, so that a
// copy cut short (the node stopped, the disk filled) is never taken for a
// whole one: the status line went out before the first byte.
const backupTrailer = "X-Edgerag-Backup-Bytes"

// RegisterBackup adds GET /v1/backup to h when its service can back up.
func RegisterBackup(h *Handler) {
	bs, ok := h.svc.(BackupService)
	if !ok {
		return
	}
	h.mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Trailer", backupTrailer)
		n, err := bs.Backup(r.Context(), w)
		if err != nil {
			h.log.Warn("backup failed", "err", err, "bytes", n)
			return // no trailer: the client reports an incomplete backup
		}
		w.Header().Set(backupTrailer, strconv.FormatInt(n, 10))
	})
}

// Backup streams the node's backup to w and returns its size; it fails if
// the node did not finish it.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /v1/backup: is the node running at %s? %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return 0, Errorf(resp.StatusCode, CodeInternal, "GET /v1/backup: HTTP %d: %s", resp.StatusCode, b)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup cut short after %d bytes: %w", n, err)
	}
	if want := resp.Trailer.Get(backupTrailer); want != strconv.FormatInt(n, 10) {
		return n, fmt.Errorf("backup incomplete: got %d bytes, the node reported %q (see its log)", n, want)
	}
	return n, nil
}
