package api

import "bytes"

// rawHead is what the connection's fast path reads of a request before
// net/http sees it: enough to know where the request ends (framing) and
// whether it may be refused without net/http (fast). Its byte slices point
// into the connection's buffer and live until the request is consumed.
type rawHead struct {
	method, target, auth []byte
	// requestID is the client's X-Request-Id (the first one), nil if none.
	requestID []byte
	// size is the head's length, request line to the blank line included;
	// body is the Content-Length (0 without one).
	size, body int
	// fast: a plain keep-alive HTTP/1.1 request that net/http would accept
	// as it is, with at most one Authorization header; only such a request
	// may be answered by the fast path. A framed request that is not fast
	// still goes to net/http, which answers it (or refuses it) itself.
	fast bool
}

// headStatus says what parseHead made of the bytes it got.
type headStatus int

const (
	// headMore: the head is not complete yet (and nothing seen so far
	// rules the request out).
	headMore headStatus = iota
	// headFramed: the head is complete and the request's length is known.
	headFramed
	// headUnframed: the request's length cannot be known for certain here
	// (chunked or ambiguous body, obsolete syntax, an upgrade, HTTP/1.0,
	// anything odd): the connection is handed to net/http for good.
	headUnframed
)

// maxContentLength bounds the bodies the fast path frames; a longer one
// is unframed (net/http reads it as it comes).
const maxContentLength = 1 << 30

// parseHead reads a request head from b. It is strict on purpose: it
// frames a request only when net/http would read exactly the same bytes as
// that request (FuzzParseHead compares the two), since a request framed
// differently from net/http would put the two out of step on the
// connection. Everything it is unsure of is headUnframed, which costs only
// the fast path of that one connection.
func parseHead(b []byte) (rawHead, headStatus) {
	var h rawHead
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return h, headMore
	}
	line, ok := crlfLine(b[:eol+1])
	if !ok {
		return h, headUnframed
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return h, headUnframed
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || string(rest[sp2+1:]) != "HTTP/1.1" || rest[0] != '/' {
		return h, headUnframed
	}
	h.method, h.target = line[:sp1], rest[:sp2]
	for _, c := range h.target {
		if c <= ' ' || c >= 0x7f {
			return h, headUnframed
		}
	}
	off := eol + 1
	hosts, lengths, auths := 0, 0, 0
	fast := true
	for {
		eol = bytes.IndexByte(b[off:], '\n')
		if eol < 0 {
			return h, headMore
		}
		line, ok := crlfLine(b[off : off+eol+1])
		off += eol + 1
		if !ok {
			return h, headUnframed
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return h, headUnframed // obs-fold, space before the colon, bad name
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return h, headUnframed
			}
		}
		switch {
		case equalFold(name, "content-length"):
			lengths++
			n, ok := parseLength(value)
			if !ok || lengths > 1 {
				return h, headUnframed
			}
			h.body = n
		case equalFold(name, "transfer-encoding"), equalFold(name, "upgrade"):
			return h, headUnframed
		case equalFold(name, "host"):
			hosts++
			fast = fast && validHost(value)
		case equalFold(name, "authorization"):
			auths++
			h.auth = value
		case equalFold(name, "x-request-id"):
			if h.requestID == nil {
				h.requestID = value
			}
		case equalFold(name, "connection"):
			// Only a connection that stays open may be answered without
			// net/http; a close or anything else goes to net/http.
			fast = fast && equalFold(value, "keep-alive")
		case equalFold(name, "expect"):
			fast = false
		}
	}
	if hosts != 1 {
		// net/http answers 400 and closes: framing no longer matters, but
		// the answer must be net/http's.
		fast = false
	}
	h.size = off
	h.fast = fast && auths <= 1
	return h, headFramed
}

// crlfLine returns a line without its CRLF; a bare LF is not accepted
// (net/http would, but the fast path need not).
func crlfLine(l []byte) ([]byte, bool) {
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, false
	}
	l = l[:len(l)-2]
	return l, bytes.IndexByte(l, '\r') < 0
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength reads a Content-Length: decimal digits only, bounded.
func parseLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxContentLength
}

// validHost accepts the characters of a host name, an IPv4 or bracketed
// IPv6 address and a port: a subset of what net/http accepts, so that a
// request the fast path answers is one net/http would not refuse.
func validHost(v []byte) bool {
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// equalFold compares b with a lower-case ASCII string, ignoring case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// isToken reports whether b is an RFC 9110 token (a method, a header name).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tchar[c] {
			return false
		}
	}
	return true
}

var tchar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
