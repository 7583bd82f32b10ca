package enroll

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/sync/pki"
)

// DefaultCertTTL is the life of a certificate central issues to a device:
// a few days, so a device that is lost or revoked while offline does not
// stay a member for long, renewed by the device at two thirds of it.
const DefaultCertTTL = 72 * time.Hour

// EventEnroll is the audit log's kind for a device enrolled or renewed;
// refusals are logged as auth.EventBadToken (a token refused) and
// auth.EventDenied (a revoked certificate's renewal), revocations as
// auth.EventRevocation.
const EventEnroll = "enroll"

// ServerConfig configures central's enrollment.
type ServerConfig struct {
	Registry *Registry
	CA       *pki.CA
	// Identity is central's fleet identity: its certificate serves the
	// enrollment listener, and revocations apply to it at once.
	Identity *pki.Identity
	CertTTL  time.Duration // zero: DefaultCertTTL
	// OnRevoke, when set, receives every new signed revocation list after
	// central's identity applied it (the agent keeps a copy beside the
	// certificate, read before the QUIC listener opens at the next start).
	OnRevoke func(signed []byte)
	Audit    *auth.Audit  // nil: none
	Logger   *slog.Logger // nil: discard
}

// Server is central's enrollment: the HTTPS listener devices enroll and
// renew on, and the admin routes of central's API.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
}

// NewServer checks cfg and applies the registry's revocation list to
// central's identity.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Registry == nil || cfg.CA == nil || cfg.Identity == nil {
		return nil, errors.New("enroll: server needs a registry, the CA and central's identity")
	}
	if cfg.CertTTL == 0 {
		cfg.CertTTL = DefaultCertTTL
	}
	if cfg.CertTTL < 0 {
		return nil, fmt.Errorf("enroll: certificate lifetime %v must be positive", cfg.CertTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if n, signed := cfg.Registry.Signed(); n > 0 {
		if _, err := cfg.Identity.SetRevocations(signed); err != nil {
			return nil, fmt.Errorf("enroll: apply the revocation list: %w", err)
		}
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// Revocations returns the signed revocation list and its number, for fleet
// sync to carry to the edges.
func (s *Server) Revocations() (uint64, []byte) { return s.cfg.Registry.Signed() }

// Listen serves enrollment and renewal over HTTPS on addr until Close.
func (s *Server) Listen(addr string) error {
	leaf := s.cfg.Identity.Certificate()
	// The chain carries the CA certificate, so that a device that knows
	// only its fingerprint can check it and keep it.
	chain := tls.Certificate{Certificate: [][]byte{leaf.Leaf.Raw, s.cfg.CA.Cert().Raw}, PrivateKey: leaf.PrivateKey, Leaf: leaf.Leaf}
	pool := x509.NewCertPool()
	pool.AddCert(s.cfg.CA.Cert())
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{chain},
		ClientAuth:   tls.VerifyClientCertIfGiven, // enrollment has none yet; renewal has one
		ClientCAs:    pool,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("enrollment listener on %s: %w (choose another with --enroll)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathEnroll, s.serveEnroll)
	mux.HandleFunc("POST "+PathRenew, s.serveRenew)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.ln = tls.NewListener(ln, tc)
	go s.srv.Serve(s.ln)
	s.log.Info("enrollment listening", "addr", ln.Addr().String(), "ca_fingerprint", s.cfg.CA.Fingerprint(), "cert_ttl", s.cfg.CertTTL)
	return nil
}

// Addr is the enrollment listener's address; nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the enrollment listener.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) audit(kind, principal, action, detail, remote string) {
	if s.cfg.Audit != nil {
		s.cfg.Audit.Record(auth.Event{Kind: kind, Principal: principal, Action: action, Detail: detail, Remote: remote})
	}
}

func readRequest(w http.ResponseWriter, r *http.Request) (Request, *x509.CertificateRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "request body over %d bytes", maxRequest))
		return Request{}, nil, false
	}
	req, csr, err := ParseRequest(body)
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%v", err))
		return Request{}, nil, false
	}
	return req, csr, true
}

// serveEnroll redeems a one-time token for a certificate.
func (s *Server) serveEnroll(w http.ResponseWriter, r *http.Request) {
	req, csr, ok := readRequest(w, r)
	if !ok {
		return
	}
	tok, err := s.cfg.Registry.redeem(req.Token)
	if err != nil {
		// As a refused API token: rate-limited in the log, so guessing
		// cannot flood it.
		s.audit(auth.EventBadToken, "", "enroll refused", err.Error(), r.RemoteAddr)
		if errors.Is(err, ErrTokenUnknown) || errors.Is(err, ErrTokenExpired) {
			api.WriteError(w, api.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "%v", err))
			return
		}
		api.WriteError(w, err)
		return
	}
	s.issue(w, r, csr, tok.Name, tok.Role, tok.Groups, "enroll")
}

// serveRenew issues a new certificate to the holder of a valid, unrevoked
// one, for the same key.
func (s *Server) serveRenew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		api.WriteError(w, api.Errorf(http.StatusUnauthorized, api.CodeUnauthorized, "renewal needs the node's current fleet certificate as the TLS client certificate; a device without one enrolls with a token"))
		return
	}
	cur := r.TLS.PeerCertificates[0]
	name, role, err := pki.NameOf(cur)
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusForbidden, api.CodeForbidden, "%v", err))
		return
	}
	if s.cfg.Registry.Revoked(cur) {
		s.audit(auth.EventDenied, name, "renew refused", "certificate revoked", r.RemoteAddr)
		api.WriteError(w, api.Errorf(http.StatusForbidden, api.CodeForbidden, "the certificate of %s was revoked: it is not renewed; enroll the device again with a new token", name))
		return
	}
	_, csr, ok := readRequest(w, r)
	if !ok {
		return
	}
	if k, ok := cur.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(csr.PublicKey) {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "renewal: the request is for another key than the certificate presented"))
		return
	}
	// The renewed certificate keeps the bound on groups of the current.
	s.issue(w, r, csr, name, role, pki.GroupsOf(cur), "renew")
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request, csr *x509.CertificateRequest, name, role string, groups pki.Groups, via string) {
	der, is, err := s.cfg.Registry.issue(csr, name, role, groups, via, s.cfg.CertTTL)
	if err != nil {
		s.log.Error("enroll: issue certificate", "name", name, "err", err)
		api.WriteError(w, api.Errorf(http.StatusInternalServerError, api.CodeInternal, "central could not issue the certificate; see its log"))
		return
	}
	s.audit(EventEnroll, name, via, fmt.Sprintf("role %s, serial %s, valid until %s", role, is.Serial, is.NotAfter.Format(time.RFC3339)), r.RemoteAddr)
	s.log.Info("certificate issued", "name", name, "role", role, "via", via, "not_after", is.NotAfter)
	api.WriteJSON(w, http.StatusOK, Response{Name: name, Role: role, Cert: string(pki.EncodeCert(der)), CA: string(s.cfg.CA.CertPEM()), NotAfter: is.NotAfter})
}

// Routes adds the admin routes to central's API (the guard makes every
// path it does not list admin-only).
func (s *Server) Routes(h interface {
	Handle(string, http.Handler)
}) {
	h.Handle("POST "+PathTokens, http.HandlerFunc(s.serveToken))
	h.Handle("POST "+PathRevoke, http.HandlerFunc(s.serveRevoke))
	h.Handle("GET "+PathList, http.HandlerFunc(s.serveList))
}

func principal(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Name
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !api.DecodeJSON(w, r, 4096, &req) {
		return
	}
	ttl := DefaultTokenTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "ttl %q: want a duration such as 10m", req.TTL))
			return
		}
		ttl = d
	}
	if req.Role == "" {
		req.Role = pki.RoleEdge
	}
	var groups pki.Groups
	if req.Groups != nil {
		names, err := auth.NormalizeGroups(*req.Groups)
		if err != nil {
			api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "groups: %v", err))
			return
		}
		groups = pki.Groups{Bounded: true, Names: names}
	}
	tok, info, err := s.cfg.Registry.CreateToken(req.Name, req.Role, groups, ttl, principal(r))
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "enrollment token: %v", err))
		return
	}
	s.audit(auth.EventAdmin, principal(r), "cert enroll-token", fmt.Sprintf("for %s (%s), expires %s", info.Name, info.Role, info.Expires.Format(time.RFC3339)), r.RemoteAddr)
	api.WriteJSON(w, http.StatusOK, TokenResponse{Token: tok, Name: info.Name, Role: info.Role, Expires: info.Expires, CAFingerprint: s.cfg.CA.Fingerprint(), Groups: info.Groups})
}

func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if !api.DecodeJSON(w, r, 4096, &req) {
		return
	}
	if req.Name == s.cfg.Identity.Name() {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "%s is this central node: it cannot revoke itself", req.Name))
		return
	}
	rev, signed, err := s.cfg.Registry.Revoke(req.Name)
	if err != nil {
		api.WriteError(w, api.Errorf(http.StatusBadRequest, api.CodeBadRequest, "revoke: %v", err))
		return
	}
	// Central refuses the name from this moment; edges once fleet sync
	// brings them the list.
	n, err := s.cfg.Identity.SetRevocations(signed)
	if err != nil {
		s.log.Error("enroll: apply own revocation list", "err", err)
	}
	if s.cfg.OnRevoke != nil {
		s.cfg.OnRevoke(signed)
	}
	s.audit(auth.EventRevocation, principal(r), "cert revoke", fmt.Sprintf("certificates of %s issued until %s; revocation list %d", rev.Name, rev.At.Format(time.RFC3339), n), r.RemoteAddr)
	s.log.Warn("certificate revoked", "name", rev.Name, "list", n)
	api.WriteJSON(w, http.StatusOK, RevokeResponse{Name: rev.Name, RevokedAt: rev.At, List: n})
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, s.cfg.Registry.List())
}
