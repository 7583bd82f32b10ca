package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/membership"
)

// gossipProc starts 'edgerag serve' with gossip and returns its API URL.
func gossipProc(b *testing.B, name, addr, join string) (*exec.Cmd, string) {
	b.Helper()
	ready := filepath.Join(b.TempDir(), "ready")
	args := []string{"serve", "--data", b.TempDir(), "--http", "127.0.0.1:0", "--name", name, "--no-sync",
		"--gossip", addr, "--insecure-dev", "--gossip-profile", "lan", "--ready-file", ready, "--log-level", "error"}
	if join != "" {
		args = append(args, "--join", join)
	}
	cmd := exec.Command(binary, args...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(s), "\n") {
			url := strings.Fields(string(s))[0]
			registerToken(b, url, args, nil)
			return cmd, url
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("%s not ready", name)
	return nil, ""
}

// BenchmarkFleetFailover measures, with real processes on loopback and the
// lan profile: how long five nodes started one after another take until
// every one sees all five alive (join), and how long after a kill -9 of one
// the others' views mark it failed (detect). It reports medians over b.N
// rounds; each round takes ~10 s, so run it with -benchtime=5x.
func BenchmarkFleetFailover(b *testing.B) {
	const nodes = 5
	var joins, detects []time.Duration
	for i := 0; i < b.N; i++ {
		var cmds []*exec.Cmd
		var urls []string
		var first string
		began := time.Now()
		for j := range nodes {
			addr := gossipAddr(b, fmt.Sprintf("127.0.0.%d", 31+j))
			if j == 0 {
				first = addr
			}
			join := first
			if j == 0 {
				join = ""
			}
			cmd, url := gossipProc(b, fmt.Sprintf("n%d", j+1), addr, join)
			cmds, urls = append(cmds, cmd), append(urls, url)
		}
		for {
			all := true
			for _, u := range urls {
				n := 0
				for _, m := range fleetOf(b, u).Members {
					if m.Status == membership.StatusAlive {
						n++
					}
				}
				all = all && n == nodes
			}
			if all {
				break
			}
			if time.Since(began) > 30*time.Second {
				b.Fatal("pool did not converge in 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		joins = append(joins, time.Since(began))

		victim := cmds[nodes-1]
		victim.Process.Signal(syscall.SIGKILL)
		victim.Wait()
		killed := time.Now()
		for {
			m, _ := memberOf(fleetOf(b, urls[0]), fmt.Sprintf("n%d", nodes))
			if m.Status == membership.StatusFailed {
				break
			}
			if time.Since(killed) > 30*time.Second {
				b.Fatal("kill -9 not detected in 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		detects = append(detects, time.Since(killed))
		for _, c := range cmds[:nodes-1] {
			c.Process.Kill()
			c.Wait()
		}
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return d[len(d)/2].Seconds()
	}
	b.ReportMetric(median(joins), "join-s/median")
	b.ReportMetric(median(detects), "detect-s/median")
	// The baseline is memberlist's own formula for this profile and size:
	// the shortest a detection can be.
	best, _ := membership.LAN().FailureDetection(nodes)
	b.ReportMetric(median(detects)/best.Seconds(), "detect/formula-best")
	b.ReportMetric(0, "ns/op")
}
