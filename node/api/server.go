package api

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits bound what clients can hold of a node: time to send a request,
// open connections in all and per client. Without them a few thousand
// connections that send their bodies a byte at a time, or a flood of
// connections, use up the file limit and normal queries stop being
// answered. The zero value of every field is a usable default.
type Limits struct {
	// ReadHeaderTimeout bounds the time to send a request's headers;
	// default 5 s.
	ReadHeaderTimeout time.Duration
	// BodyGrace and MinBodyRate bound the time to send a body: a client
	// has BodyGrace, plus the time its bytes so far need at MinBodyRate
	// bytes per second. An honest slow link gets through; a body trickled
	// a byte at a time is cut after BodyGrace. Defaults 5 s and 16 KiB/s.
	BodyGrace   time.Duration
	MinBodyRate int64
	// WriteTimeout bounds the time from the end of the headers to the end
	// of the response; default 2 min (a streamed answer takes seconds).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle for this long;
	// default 30 s.
	IdleTimeout time.Duration
	// MaxConns is the most connections open at once; default three
	// quarters of the file limit (the store and the fleet need the rest),
	// at most 2048. Connections beyond it get a 503 and are closed.
	MaxConns int
	// MaxConnsPerClient is the most connections one client address may
	// hold; default a quarter of MaxConns, so that no single client takes
	// them all.
	MaxConnsPerClient int
	// MaxHeaderBytes bounds a request's headers; default 64 KiB.
	MaxHeaderBytes int
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 5*time.Second)
	def(&l.BodyGrace, 5*time.Second)
	def(&l.WriteTimeout, 2*time.Minute)
	def(&l.IdleTimeout, 30*time.Second)
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = 16 << 10
	}
	if l.MaxConns <= 0 {
		l.MaxConns = defaultMaxConns()
	}
	if l.MaxConnsPerClient <= 0 {
		l.MaxConnsPerClient = max(1, l.MaxConns/4)
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	return l
}

// defaultMaxConns leaves a quarter of the file limit to Badger's tables,
// the value log and the fleet's connections.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 256
	}
	return int(min(max(rl.Cur*3/4, 64), 2048))
}

// Server is an http.Server whose Serve bounds connections by Limits and,
// with Shed set, refuses excess requests below net/http (fastpath.go).
type Server struct {
	*http.Server
	// Shed, when set (before Serve), is asked about each request the
	// connection fast path can answer by itself: a plain keep-alive
	// HTTP/1.1 request, read whole, on a connection with no other request
	// in hand; client is the connection's, as ClientOf names it. It
	// returns the refusal to send instead of serving the request, or nil to serve it as usual. It is called for many requests
	// and must cost little when it returns nil; it must keep every rule
	// the handler applies before such a refusal (the credential first),
	// and must not keep the slices, which point into a connection buffer.
	Shed func(method, target, authorization []byte, client string) *Prebuilt

	limits      Limits
	refused     atomic.Int64
	fastRefused atomic.Int64
}

// NewServer returns a server for h with the limits applied; Serve(ln)
// wraps ln so that connections are bounded.
func NewServer(h http.Handler, l Limits) *Server {
	l = l.withDefaults()
	s := &Server{limits: l}
	s.Server = &http.Server{
		Handler:           s.bodyDeadline(h),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ConnState:         connState,
	}
	return s
}

// Limits returns the limits in force, defaults filled in.
func (s *Server) Limits() Limits { return s.limits }

// Refused counts connections refused because of MaxConns or
// MaxConnsPerClient.
func (s *Server) Refused() int64 { return s.refused.Load() }

// FastRefused counts requests refused by the connection fast path.
func (s *Server) FastRefused() int64 { return s.fastRefused.Load() }

// Serve accepts connections on ln, at most the limits' worth at once.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(s.Listener(ln))
}

// Listener wraps ln so that it holds at most MaxConns connections, and
// MaxConnsPerClient from one address.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, srv: s, byClient: make(map[string]int)}
}

// bodyDeadline sets a read deadline that grows with the bytes of the body
// received, and lifts it once the body is read: net/http's ReadTimeout is
// one number for every body, too short for a large ingest on a slow link
// or too long against a trickle.
func (s *Server) bodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if err := rc.SetReadDeadline(start.Add(s.limits.BodyGrace)); err != nil {
			h.ServeHTTP(w, r) // not a plain connection (a test recorder)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, start: start, limits: &s.limits}
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	start  time.Time
	limits *Limits
	n      int64
	done   bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case b.done:
	case err == io.EOF:
		// The body is read: lift the deadline, or it would end the
		// connection's wait for the client to hang up, which cancels the
		// request's context while the answer is worked out.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// Timed out or broken: the deadline stays, so that net/http's
		// discarding of the rest of the body ends too.
		b.done = true
	case n > 0:
		allowed := b.limits.BodyGrace + time.Duration(float64(b.n)/float64(b.limits.MinBodyRate)*float64(time.Second))
		_ = b.rc.SetReadDeadline(b.start.Add(allowed))
	}
	return n, err
}

type limitListener struct {
	net.Listener
	srv      *Server
	mu       sync.Mutex
	open     int
	byClient map[string]int
}

// Accept returns the next connection within the limits. One over them is
// answered with a 503 and closed here, without a goroutine, so that a
// flood costs the node one write per connection.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientKey(c.RemoteAddr())
		l.mu.Lock()
		over := l.open >= l.srv.limits.MaxConns
		perClient := l.byClient[client] >= l.srv.limits.MaxConnsPerClient
		if !over && !perClient {
			l.open++
			l.byClient[client]++
			l.mu.Unlock()
			fc := &fastConn{Conn: c, srv: l.srv, client: client, release: func() { l.release(client) }}
			fc.raw.Store(l.srv.Shed == nil)
			return fc, nil
		}
		l.mu.Unlock()
		l.srv.refused.Add(1)
		what := fmt.Sprintf("the node has %d connections open, its limit", l.srv.limits.MaxConns)
		if perClient {
			what = fmt.Sprintf("%s has %d connections open, the limit per client", client, l.srv.limits.MaxConnsPerClient)
		}
		refuseConn(c, what)
	}
}

func (l *limitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

// refuseConn answers a connection it will not serve with the API's error
// shape, so that an HTTP client sees why, and closes it.
func refuseConn(c net.Conn, what string) {
	body := fmt.Sprintf(`{"error":{"code":"overloaded","message":"too many connections: %s; reuse connections (keep-alive) or retry later"}}`+"\n", what)
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = c.Close()
}

func clientKey(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ClientOf(a.String())
}

// ClientOf names the client of a remote address ("host:port"): its host,
// as the connection limits and the admission gates' fairness count it.
func ClientOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// Prebuilt is an error answer encoded once and written many times: under a
// surge most requests are refused, and a refusal that encodes its JSON
// body, formats its message and lets net/http chunk the response costs a
// good part of what the node has left for answering. It unwraps to its
// *Error and to the service's own error, so AsError, errors.Is and
// errors.As see what they would without it.
type Prebuilt struct {
	wireAt        atomic.Pointer[wireAnswer]
	e             *Error
	cause         error
	contentType   []string
	retryAfter    []string
	contentLength []string
	body          []byte
}

var jsonContentType = []string{"application/json"}

// Prebuild encodes e as WriteError would; cause (may be nil) is the
// service's error e stands for.
func Prebuild(e *Error, cause error) *Prebuilt {
	body, _ := json.Marshal(map[string]*Error{"error": e})
	body = append(body, '\n')
	p := &Prebuilt{e: e, cause: cause, contentType: jsonContentType, body: body,
		contentLength: []string{strconv.Itoa(len(body))}}
	if e.RetryAfter > 0 {
		p.retryAfter = []string{strconv.Itoa(int(max(1, math.Ceil(e.RetryAfter.Seconds()))))}
	}
	return p
}

func (p *Prebuilt) Error() string { return p.e.Message }

func (p *Prebuilt) Unwrap() []error {
	if p.cause == nil {
		return []error{p.e}
	}
	return []error{p.e, p.cause}
}

// Write sends the answer. The header values are shared between requests;
// net/http only reads them.
func (p *Prebuilt) Write(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = p.contentType
	h["Content-Length"] = p.contentLength
	if p.retryAfter != nil {
		h["Retry-After"] = p.retryAfter
	}
	w.WriteHeader(p.e.Status)
	_, _ = w.Write(p.body)
}

// wireAnswer is a Prebuilt as a whole HTTP/1.1 response, for one second
// of the Date header; the request's X-Request-Id goes in at split, the end
// of the shared headers.
type wireAnswer struct {
	unix  int64
	b     []byte
	split int
}

// appendWire appends the answer to out as the bytes of a keep-alive
// HTTP/1.1 response, the headers net/http would send included, for the
// connection fast path: the shared part is rebuilt once a second for the
// Date header, and the X-Request-Id is the client's when it is valid
// (ValidRequestID), else a fresh one, as the handler tags every answer.
func (p *Prebuilt) appendWire(out []byte, now time.Time, requestID []byte) []byte {
	unix := now.Unix()
	w := p.wireAt.Load()
	if w == nil || w.unix != unix {
		b := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n", p.e.Status, http.StatusText(p.e.Status))
		if p.retryAfter != nil {
			b = fmt.Appendf(b, "Retry-After: %s\r\n", p.retryAfter[0])
		}
		b = fmt.Appendf(b, "Date: %s\r\nContent-Length: %d\r\n", now.UTC().Format(http.TimeFormat), len(p.body))
		split := len(b)
		b = append(append(b, "\r\n"...), p.body...)
		w = &wireAnswer{unix: unix, b: b, split: split}
		p.wireAt.Store(w)
	}
	out = append(out, w.b[:w.split]...)
	out = append(out, "X-Request-Id: "...)
	if ValidRequestID(string(requestID)) {
		out = append(out, requestID...)
	} else {
		out = append(out, NewRequestID()...)
	}
	out = append(out, "\r\n"...)
	return append(out, w.b[w.split:]...)
}
