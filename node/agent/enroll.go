package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/sync/enroll"
	"github.com/edgerag/edgerag/sync/pki"
)

// EnrollConfig is central's enrollment of devices (sync/enroll): with
// CADir set, central issues short-lived certificates to devices holding a
// one-time token, renews them, and keeps and signs the fleet's revocation
// list, which fleet sync carries to the edges.
type EnrollConfig struct {
	// CADir holds the fleet CA and its key, on central's machine; "":
	// no enrollment, no revocation.
	CADir string
	// Addr is the HTTPS address devices enroll and renew on; "": TCP on
	// the QUIC address's host and port, so one address serves both (an
	// ephemeral port when QUIC's is).
	Addr    string
	CertTTL time.Duration // life of the certificates issued; zero: 72 h
}

// enrollStateFile marks a TLS directory 'edgerag enroll' wrote.
const enrollStateFile = enroll.StateFile

// revocationsFile keeps the newest revocation list a node applied, beside
// its certificate, so a restart does not let a revoked peer in until the
// next poll.
const revocationsFile = "revocations.json"

// loadRevocations applies the revocation list kept in dir, if any.
func loadRevocations(dir string, id *pki.Identity, log *slog.Logger) {
	b, err := os.ReadFile(filepath.Join(dir, revocationsFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil {
		_, err = id.SetRevocations(b)
	}
	if err != nil {
		log.Warn("revocation list kept from the last run is unusable; waiting for central's", "err", err)
	}
}

// revocationApplier returns what fleet sync applies a new revocation list
// with: the identity first (refusals start at once), then the file.
func revocationApplier(dir string, id *pki.Identity, log *slog.Logger) func(context.Context, []byte) error {
	return func(_ context.Context, signed []byte) error {
		before := id.Revocations().Number
		n, err := id.SetRevocations(signed)
		if err != nil || n == before {
			return err
		}
		log.Warn("revocation list applied: revoked nodes are refused", "list", n, "revoked", len(id.Revocations().Revoked))
		return pki.ReplaceFile(filepath.Join(dir, revocationsFile), signed, 0o644)
	}
}

// enrollDefaultAddr is where enrollment listens when --enroll is not
// given: TCP on the QUIC endpoint's host and port, so one address serves
// both, unless QUIC was asked for an ephemeral port (":0"): the number the
// kernel gave the UDP socket may be another process's on TCP, so
// enrollment takes its own ephemeral port then.
func enrollDefaultAddr(quicFlag, quicBound string) string {
	if host, port, err := net.SplitHostPort(quicFlag); err == nil && port == "0" {
		return net.JoinHostPort(host, "0")
	}
	return quicBound
}

// startEnroll starts central's enrollment when the config asks for it.
func (a *Agent) startEnroll() error {
	c := a.cfg.Enroll
	if c.CADir == "" {
		return nil
	}
	if a.cfg.Role != "central" {
		return configErrorf("--ca is central's: an edge enrolls with 'edgerag enroll' and never holds the CA key")
	}
	if a.link.id == nil || a.link.server == nil {
		return configErrorf("enrollment (--ca) needs central's QUIC endpoint and fleet certificate: add --quic and --tls-dir")
	}
	ca, err := pki.LoadCA(c.CADir)
	if err != nil {
		return err
	}
	reg, err := enroll.OpenRegistry(c.CADir, ca, a.cfg.Now)
	if err != nil {
		return err
	}
	// Central keeps the list beside its certificate like an edge, so that
	// at its next start QUIC refuses revoked nodes from the first packet,
	// before this runs.
	keep := func(signed []byte) {
		if err := pki.ReplaceFile(filepath.Join(a.cfg.Fleet.TLSDir, revocationsFile), signed, 0o644); err != nil {
			a.log.Warn("keep the revocation list", "err", err)
		}
	}
	srv, err := enroll.NewServer(enroll.ServerConfig{Registry: reg, CA: ca, Identity: a.link.id, CertTTL: c.CertTTL, Audit: a.node.Audit(), Logger: a.log, OnRevoke: keep})
	if err != nil {
		return err
	}
	if n, signed := reg.Signed(); n > 0 {
		keep(signed)
	}
	addr := c.Addr
	if addr == "" {
		addr = enrollDefaultAddr(a.cfg.Fleet.QUICAddr, a.link.server.Addr().String())
	}
	if err := srv.Listen(addr); err != nil {
		return err
	}
	a.enroll = srv
	a.link.revocations = srv.Revocations
	return nil
}

// EnrollAddr is the address devices enroll on; "" without enrollment.
func (a *Agent) EnrollAddr() string {
	if a.enroll == nil || a.enroll.Addr() == nil {
		return ""
	}
	return a.enroll.Addr().(*net.TCPAddr).String()
}

// startRenew renews the certificate of a node that enrolled, in the
// background until ctx ends; a.stopRenew waits for it.
func (a *Agent) startRenew(ctx context.Context) error {
	if a.link.id == nil {
		return nil
	}
	st, ok, err := enroll.ReadState(a.cfg.Fleet.TLSDir)
	if err != nil || !ok {
		return err
	}
	r := &enroll.Renewer{Dir: a.cfg.Fleet.TLSDir, State: st, Identity: a.link.id, Logger: a.log, Now: a.cfg.Now, OnRenew: a.cfg.Fleet.OnRenew}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	a.stopRenew = func() { cancel(); <-done }
	a.log.Info("certificate renewal on", "central", st.Central, "expires", a.link.id.NotAfter())
	return nil
}
