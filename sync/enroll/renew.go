package enroll

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/edgerag/edgerag/sync/pki"
)

// Renewer keeps an enrolled node's certificate fresh: at about two thirds
// of its life (with jitter, so a fleet enrolled together does not renew
// together) it asks central for a new one for the same key, replaces the
// certificate file atomically — a crash at any moment leaves the old or
// the new certificate beside the unchanged key, both a working pair — and
// hands it to the running identity, whose next handshakes present it.
type Renewer struct {
	Dir      string // the node's TLS directory (holds enroll.json)
	State    State
	Identity *pki.Identity
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now
	// OnRenew, when set, is called after each renewal (tests, metrics).
	OnRenew func(notAfter time.Time)
}

// renewAt is when a certificate valid from issued to notAfter should be
// renewed: two thirds into its life, moved by up to a twentieth of it
// either way. jitter is in [-1, 1].
func renewAt(issued, notAfter time.Time, jitter float64) time.Time {
	life := notAfter.Sub(issued)
	return issued.Add(life*2/3 + time.Duration(jitter*float64(life)/20))
}

// retryAfter is how long to wait after the n-th failure in a row (n ≥ 1):
// doubling from a hundredth of the certificate's life (at least 100 ms, at
// most 10 s), capped at 10 minutes and, while the certificate lasts, at a
// quarter of the time left, so a short certificate is retried often enough
// to be renewed before it ends. Once it has ended (central was out of
// reach) the doubling goes on to the 10 minutes: central refuses an expired
// certificate, and only a clock put right can still help.
func retryAfter(n int, life, left time.Duration) time.Duration {
	base := min(max(life/100, 100*time.Millisecond), 10*time.Second)
	d := min(base<<min(n-1, 16), 10*time.Minute)
	if left > 0 {
		d = min(d, max(left/4, 100*time.Millisecond))
	}
	return d
}

// Run renews until ctx ends.
func (r *Renewer) Run(ctx context.Context) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	failures := 0
	for {
		leaf := r.Identity.Leaf()
		issued := pki.IssuedAt(leaf)
		wait := renewAt(issued, leaf.NotAfter, rand.Float64()*2-1).Sub(now())
		if failures > 0 {
			wait = retryAfter(failures, leaf.NotAfter.Sub(issued), leaf.NotAfter.Sub(now()))
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		began := time.Now()
		notAfter, err := r.RenewOnce(ctx)
		var refused *RefusedError
		if errors.As(err, &refused) && refused.Final() {
			// Revoked: asking again only fills central's audit log.
			log.Error("certificate renewal refused for good; the node leaves the fleet when its certificate expires: enroll it again", "err", err, "expires", leaf.NotAfter)
			return
		}
		if err != nil {
			failures++
			if ctx.Err() != nil {
				return
			}
			log.Warn("certificate renewal failed; retrying", "err", err, "failures", failures, "expires", leaf.NotAfter)
			continue
		}
		failures = 0
		log.Info("certificate renewed", "name", r.Identity.Name(), "not_after", notAfter, "took", time.Since(began).Round(time.Millisecond))
		if r.OnRenew != nil {
			r.OnRenew(notAfter)
		}
	}
}

// RenewOnce asks central for a new certificate, writes it and puts it in
// use; it returns the new expiry.
func (r *Renewer) RenewOnce(ctx context.Context) (time.Time, error) {
	cur := r.Identity.Certificate()
	key, ok := cur.PrivateKey.(crypto.Signer)
	if !ok {
		return time.Time{}, errors.New("renew: the node key cannot sign")
	}
	caPEM, err := os.ReadFile(filepath.Join(r.Dir, pki.CACertFile))
	if err != nil {
		return time.Time{}, fmt.Errorf("renew: %w", err)
	}
	cas := pki.ParseCerts(caPEM)
	if len(cas) == 0 {
		return time.Time{}, fmt.Errorf("renew: %s holds no certificate", pki.CACertFile)
	}
	p := &pin{fingerprint: pki.Fingerprint(cas[0]), ca: cas[0]}
	csr, err := pki.CreateCSR(key, r.Identity.Name())
	if err != nil {
		return time.Time{}, err
	}
	resp, err := post(ctx, r.State.Central, PathRenew, p.config(cur), Request{CSR: csr})
	if err != nil {
		return time.Time{}, fmt.Errorf("renew: %w", err)
	}
	leaf, err := p.checkIssued(resp, key)
	if err != nil {
		return time.Time{}, fmt.Errorf("renew: %w", err)
	}
	// The file first: the node must restart with what it runs with.
	if err := pki.ReplaceFile(filepath.Join(r.Dir, r.Identity.Name()+".crt"), []byte(resp.Cert), 0o644); err != nil {
		return time.Time{}, fmt.Errorf("renew: %w", err)
	}
	if err := r.Identity.SetCertificate([]byte(resp.Cert)); err != nil {
		return time.Time{}, fmt.Errorf("renew: %w", err)
	}
	return leaf.NotAfter, nil
}
