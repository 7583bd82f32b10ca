package cmdline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Daemon is a started node as the serve commands run it (node/agent's
// Agent).
type Daemon interface {
	URL() string
	QUICAddr() string
	EnrollAddr() string
	Err() <-chan error
	Shutdown(ctx context.Context) error
	Close() error
}

// Serve runs a started daemon until ctx ends (a signal), then shuts it
// down gracefully; a second signal cuts the shutdown short. With
// readyFile, the API's URL (and the QUIC and enrollment addresses) are
// written there first,
// for scripts and tests that wait for the node.
func Serve(ctx context.Context, d Daemon, readyFile string, log *slog.Logger) error {
	if readyFile != "" {
		ready := d.URL() + "\n"
		if q := d.QUICAddr(); q != "" {
			ready += "quic://" + q + "\n"
		}
		if e := d.EnrollAddr(); e != "" {
			ready += "enroll://" + e + "\n"
		}
		if err := os.WriteFile(readyFile, []byte(ready), 0o644); err != nil {
			d.Close()
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	select {
	case err := <-d.Err():
		d.Close()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down; a second signal forces exit")
	force := make(chan os.Signal, 1)
	signal.Notify(force, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(force)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-force:
			cancel()
		case <-shutdownCtx.Done():
		}
	}()
	if err := d.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return nil
}
