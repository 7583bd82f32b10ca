//go:build benchload

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The generator is lean so that on a 2-core machine it is not what limits
// the node: keep-alive TCP connections, request bytes built before the
// run, and a response parser that reads the status line, two headers and
// skips the body. net/http's client cost about as much CPU per request as
// the node's refusal, which made the generator the bottleneck at 10×.

// pin sets the CPU affinity of every thread of this process to cpus (a
// taskset list: "0", "0-1", "0,2"). Threads started later inherit it.
func pin(cpus string) error {
	set, err := cpuSet(cpus)
	if err != nil {
		return err
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tids {
		tid, _ := strconv.Atoi(t.Name())
		if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set))); e != 0 {
			return fmt.Errorf("sched_setaffinity %s: %w", cpus, e)
		}
	}
	return nil
}

func cpuSet(cpus string) ([16]uint64, error) {
	var set [16]uint64
	for part := range strings.SplitSeq(cpus, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= 1024 {
			return set, fmt.Errorf("CPU list %q: use a taskset list such as 0 or 0-1", cpus)
		}
		for c := a; c <= b; c++ {
			set[c/64] |= 1 << (c % 64)
		}
	}
	return set, nil
}

// cpuOf returns the CPU time a process has used (pid 0: this one).
func cpuOf(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces: utime and
	// stime are the 12th and 13th of them, in clock ticks (100 Hz).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// conn is one keep-alive connection to the node.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func (c *conn) dial() error {
	if c.c != nil {
		_ = c.c.Close()
	}
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		c.c = nil
		return err
	}
	c.c, c.br = nc, bufio.NewReaderSize(nc, 32<<10)
	return nil
}

var errShort = errors.New("malformed response")

// roundTrip sends req and reads the response: status and whether it
// carried Retry-After. Any error leaves the connection closed; the next
// call dials again.
func (c *conn) roundTrip(req []byte, timeout time.Duration) (status int, retryAfter bool, err error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return 0, false, err
		}
	}
	_ = c.c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.c.Write(req); err != nil {
		_ = c.c.Close()
		c.c = nil
		return 0, false, err
	}
	status, retryAfter, err = c.read()
	if err != nil {
		_ = c.c.Close()
		c.c = nil
	}
	return status, retryAfter, err
}

func (c *conn) read() (status int, retryAfter bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 {
		return 0, false, errShort
	}
	status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	n, chunked, closeAfter := 0, false, false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return status, retryAfter, err
		}
		if len(h) <= 2 {
			break
		}
		switch {
		case hasPrefixFold(h, "content-length:"):
			n, _ = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
		case hasPrefixFold(h, "retry-after:"):
			retryAfter = true
		case hasPrefixFold(h, "transfer-encoding:"):
			chunked = true
		case hasPrefixFold(h, "connection: close"):
			closeAfter = true
		}
	}
	if chunked {
		for {
			h, err := c.br.ReadSlice('\n')
			if err != nil {
				return status, retryAfter, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(h)), 16, 64)
			if err != nil {
				return status, retryAfter, errShort
			}
			if _, err := c.br.Discard(int(size) + 2); err != nil {
				return status, retryAfter, err
			}
			if size == 0 {
				break
			}
		}
	} else if _, err := c.br.Discard(n); err != nil {
		return status, retryAfter, err
	}
	if closeAfter {
		return status, retryAfter, errors.New("connection: close")
	}
	return status, retryAfter, nil
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && strings.EqualFold(string(b[:len(p)]), p)
}

// request builds a POST's bytes.
func request(path, token, body string) []byte {
	return []byte("POST " + path + " HTTP/1.1\r\nHost: load\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// source hands out request bytes: queries cycle through prebuilt ones;
// ingests are built per request (each needs a new id) but cheaply.
type source struct {
	queries [][]byte
	token   string
	seq     atomic.Int64
}

func (s *source) next(kind string) (req []byte, id string) {
	n := s.seq.Add(1)
	if kind == "query" {
		return s.queries[int(n)%len(s.queries)], ""
	}
	id = "load-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(n, 10)
	body := `{"id":"` + id + `","shard":"load","body":"Load record ` + id + ` carries the marker ` + marker(id) + `."}`
	return request("/v1/documents", s.token, body), id
}
