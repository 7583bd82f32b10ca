package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/edgerag/edgerag/node"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/sync/pki"
	"github.com/edgerag/edgerag/sync/transport"
)

// AuthConfig is who may use the node's HTTP API, and how it is served.
type AuthConfig struct {
	// Anonymous is the role of requests without a token: "" or "none"
	// (the default) refuses them, "query" lets them ask (they see only
	// documents without groups).
	Anonymous string
	// TLSCert and TLSKey serve the API over HTTPS with this certificate;
	// TLSFleet with the node's fleet certificate instead.
	TLSCert, TLSKey string
	TLSFleet        bool
	// InsecureHTTP allows plain HTTP on an address beyond loopback (a TLS
	// proxy in front); without it such an address is refused.
	InsecureHTTP bool
	// Share names this node's own shards that edges' questions may
	// search ("all": every one). On an edge, shards fleet sync delivers are
	// always available to them; on a central with a sync key, the shards
	// it published are, and its unpublished ones only when named here.
	Share []string
	// AuditMax bounds the audit log; zero: auth.DefaultAuditMax.
	AuditMax int
}

// check refuses settings that cannot work or would expose the API.
func (c *Config) checkAuth() error {
	a := &c.Auth
	role, err := auth.ParseRole(a.Anonymous)
	switch {
	case a.Anonymous == "":
	case err != nil:
		return configErrorf("--anonymous %q: use none or query", a.Anonymous)
	case role > auth.RoleQuery:
		return configErrorf("--anonymous %s: anonymous clients may at most query; give ingest and admin clients a token (edgerag token create)", role)
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return configErrorf("--http-tls-cert and --http-tls-key go together")
	}
	if a.TLSFleet && a.TLSCert != "" {
		return configErrorf("--http-tls-fleet or --http-tls-cert, not both")
	}
	if a.TLSFleet && c.Fleet.TLSDir == "" {
		return configErrorf("--http-tls-fleet needs --tls-dir (the fleet certificate)")
	}
	if c.HTTPAddr != "" {
		if err := auth.CheckPlainHTTP(c.HTTPAddr, a.TLSCert != "" || a.TLSFleet, a.InsecureHTTP); err != nil {
			return ConfigError{err.Error()}
		}
	}
	return nil
}

// openGuard loads the node's tokens, writes the bootstrap admin token on
// first start, and returns the HTTP guard.
func (a *Agent) openGuard(ctx context.Context) (*auth.Guard, error) {
	n := a.node
	toks, err := auth.OpenTokens(ctx, auth.StoreKV(n.AuthKV()), a.cfg.Now)
	if err != nil {
		return nil, err
	}
	path, err := auth.Bootstrap(ctx, toks, a.cfg.DataDir, n.Audit())
	if err != nil {
		return nil, err
	}
	if path != "" {
		a.log.Info("admin token written; send it as 'Authorization: Bearer TOKEN', or give commands --data", "file", path)
	}
	anon, _ := auth.ParseRole(a.cfg.Auth.Anonymous)
	return &auth.Guard{Tokens: toks, Audit: n.Audit(), Anonymous: anon, Log: a.log}, nil
}

// listenHTTP listens on HTTPAddr, with TLS when configured, and returns
// the listener and the API's base URL.
func (a *Agent) listenHTTP() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w (is another node running? pick another --http port)", a.cfg.HTTPAddr, err)
	}
	c := a.cfg.Auth
	if c.TLSFleet && a.link.id != nil {
		// The identity's certificate, read at each handshake: an enrolled
		// node's renewals reach the API too.
		id := a.link.id
		cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.Certificate(), nil },
			MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		return tls.NewListener(ln, cfg), "https://" + ln.Addr().String(), nil
	}
	cert, key := c.TLSCert, c.TLSKey
	if c.TLSFleet {
		cert, key = filepath.Join(a.cfg.Fleet.TLSDir, a.cfg.Name+".crt"), filepath.Join(a.cfg.Fleet.TLSDir, a.cfg.Name+".key")
	}
	if cert == "" {
		return ln, "http://" + ln.Addr().String(), nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("HTTP TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	return tls.NewListener(ln, cfg), "https://" + ln.Addr().String(), nil
}

// guardHandler puts the guard in front of h and adds its routes.
func guardHandler(g *auth.Guard, h interface {
	http.Handler
	Handle(string, http.Handler)
}) http.Handler {
	g.Routes(h)
	return g.Wrap(h)
}

// scope says which shards another node's questions may search here:
// central's own questions reach everything; an edge's reach, on a central
// that publishes (--sync-key), the shards it published and those shared
// with --share (publishedScope); on a central that cannot publish, every
// shard (it only holds the full index, escalation is what it is for); on
// an edge, the shards fleet sync delivered and those shared with --share.
func (l *fleetLink) scope(ctx context.Context, c Config) func(peer transport.Peer) ([]string, bool) {
	return func(peer transport.Peer) ([]string, bool) {
		if peer.Role == pki.RoleCentral {
			// Another replica forwards only what this one serves.
			if rs := l.replicas.Load(); rs != nil {
				return rs.served(), true
			}
			return nil, false
		}
		if c.Role == "central" && c.Sync.Key != "" {
			names, all := publishedScope(ctx, c, l.publisher.Load(), l.log)
			return names, !all
		}
		n := l.node.Load()
		if n == nil {
			return nil, true
		}
		names, all := shared(c, n)
		return names, !all
	}
}

// shared lists the shards other edges may search on this node; all is
// true when they may search every one (central, or --share all).
func shared(c Config, n *node.Node) (names []string, all bool) {
	if c.Role == "central" || slices.Contains(c.Auth.Share, "all") {
		return nil, true
	}
	for _, s := range n.Shards() {
		if n.SyncManaged(s.Name) || slices.Contains(c.Auth.Share, s.Name) {
			names = append(names, s.Name)
		}
	}
	return names, false
}
