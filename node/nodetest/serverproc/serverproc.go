// Package serverproc runs a real server binary for a test — etcd, the S3
// gateway — the one way: in a process group of its own, its output appended
// to a log file, ready once an HTTP URL answers, and stopped with its whole
// group. The per-server test packages (sync/lease/etcdtest,
// sync/objstore/s3test) only say how to start theirs and what "ready" means.
//
// It imports nothing of the project, so that any package's tests can use it.
package serverproc

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// readyWithin is how long a server may take to answer its first request; a
// busy 2-core machine starts etcd in seconds, not tens of seconds.
const readyWithin = 20 * time.Second

// Proc is a started server.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// FreeAddr returns a loopback TCP address that was free a moment ago; the
// caller retries when the server then fails to bind it.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Start starts cmd with its output appended to logPath and waits until a GET
// of readyURL gets a response that ready accepts (nil: any response). The
// server named name in errors is killed when it is not ready in time.
func Start(name string, cmd *exec.Cmd, logPath, readyURL string, ready func(*http.Response) bool) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own group, so that Stop reaches the processes it starts too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go func() { // ends when the server exits, which Stop guarantees
		_ = cmd.Wait()
		close(p.done)
	}()
	for deadline := time.Now().Add(readyWithin); ; {
		resp, err := http.Get(readyURL)
		if err == nil {
			ok := ready == nil || ready(resp)
			resp.Body.Close()
			if ok {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready", name)
		default:
		}
		if time.Now().After(deadline) {
			p.Stop(0)
			return nil, fmt.Errorf("%s not ready after %v: %v", name, readyWithin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server's process group: SIGTERM, then SIGKILL after grace
// (at once when grace is 0, as a crash would). Stopping twice does nothing.
func (p *Proc) Stop(grace time.Duration) {
	if p == nil || p.cmd == nil {
		return
	}
	pg := -p.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-p.done:
			p.cmd = nil
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(pg, syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// Tail returns the last n lines of the log at path, for failure messages.
func Tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
