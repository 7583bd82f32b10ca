package gossipsim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgerag/edgerag/node/membership"
)

// simLink is the link every benchmark uses: a site network where some
// devices are on Wi-Fi, 10 ms ± 5 ms one way.
func simLink(loss float64) LinkConfig {
	return LinkConfig{Loss: loss, Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
}

// TestSmallPool keeps the harness honest in `make test`: 20 real Serf
// members over the simulated network, every phase, checked against what a
// user of each profile would expect.
func TestSmallPool(t *testing.T) {
	for _, profile := range []string{"lan", "edge"} {
		t.Run(profile, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res, err := Run(t.Context(), Scenario{
					Members: 20, Profile: profile, Link: simLink(0.05), Seed: 7,
					TagUpdates: 5, TagSpacing: 200 * time.Millisecond,
					Kills: 2, KillSpacing: time.Second,
					Partition: 20 * time.Second,
					Limit:     3 * time.Minute,
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%+v", res)
				if res.TagMissed > 0 || res.DetectMissed > 0 || res.ReconvergeMissed {
					t.Errorf("missed: %d tag updates, %d deaths, reconverge=%v", res.TagMissed, res.DetectMissed, res.ReconvergeMissed)
				}
				if p := Quantile(res.TagLatencies, 1); p > 3*time.Second {
					t.Errorf("slowest tag update took %v to reach 20 members, want ≤ 3s", p)
				}
				if res.FalseFailed > 0 {
					t.Errorf("%d live members were marked failed at 5%% loss", res.FalseFailed)
				}
				if got := Quantile(res.DetectLatencies, 0); got < time.Second {
					t.Errorf("a death was detected in %v, faster than any probe timeout: the clock is not simulated", got)
				}
				if res.Net.Lost == 0 || res.Net.Blocked == 0 {
					t.Errorf("network stats %+v: expected losses and partition drops", res.Net)
				}
			})
		})
	}
}

func TestScenarioValidate(t *testing.T) {
	for _, sc := range []Scenario{
		{Members: 3, Profile: "lan"},
		{Members: 10, Profile: "wan"},
		{Members: 10, Profile: "lan", TagUpdates: 4, Kills: 2},
		{Members: 10, Profile: "lan", Link: LinkConfig{Loss: 1}},
		{Members: 10, Profile: "lan", Partition: -time.Second},
	} {
		if err := sc.validate(); err == nil {
			t.Errorf("validate(%+v) accepted a bad scenario", sc)
		}
	}
}

// The benchmarks run each scenario in a child process of this test binary,
// in TestBenchScenario: synctest.Test needs a *testing.T, which a benchmark
// does not have. The child reads the scenario from scenarioEnv and writes
// the Result as JSON to resultEnv.
const (
	scenarioEnv = "EDGERAG_GOSSIPSIM_SCENARIO"
	resultEnv   = "EDGERAG_GOSSIPSIM_RESULT"
)

func TestBenchScenario(t *testing.T) {
	raw := os.Getenv(scenarioEnv)
	if raw == "" {
		t.Skip("runs only as the child process of BenchmarkGossip (set " + scenarioEnv + ")")
	}
	var sc Scenario
	if err := json.Unmarshal([]byte(raw), &sc); err != nil {
		t.Fatalf("%s: %v", scenarioEnv, err)
	}
	sc.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	synctest.Test(t, func(t *testing.T) {
		res, err := Run(t.Context(), sc)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv(resultEnv), out, 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkGossip measures 300 Serf members per profile and loss rate.
// Metrics are simulated seconds (sim-s) and counts; ns/op is the wall time.
// GOSSIPSIM_MEMBERS overrides the pool size.
func BenchmarkGossip(b *testing.B) {
	members := 300
	if v := os.Getenv("GOSSIPSIM_MEMBERS"); v != "" {
		if _, err := fmt.Sscan(v, &members); err != nil {
			b.Fatalf("GOSSIPSIM_MEMBERS=%q: want a number", v)
		}
	}
	// edge-gossip150ms is the edge profile as it was before the simulation
	// showed it missing the bar (tag p99 ≤ 1.5 s at 10% loss) in one run
	// of three: the baseline the adopted 100 ms is compared against.
	previous := membership.Edge()
	previous.GossipInterval = 150 * time.Millisecond
	cases := []struct {
		profile  string
		override *membership.Profile
		loss     float64
	}{
		{"lan", nil, 0}, {"lan", nil, 0.10},
		{"edge", nil, 0}, {"edge", nil, 0.10},
		{"edge-gossip150ms", &previous, 0.10},
	}
	for _, c := range cases {
		profile, loss := c.profile, c.loss
		b.Run(fmt.Sprintf("%s/loss=%.0f%%/n=%d", profile, loss*100, members), func(b *testing.B) {
			sc := Scenario{
				Members: members, Profile: profile, Override: c.override, Link: simLink(loss), Seed: 1,
				// Smaller pools (GOSSIPSIM_MEMBERS) get fewer updates and
				// deaths: each needs its own member.
				TagUpdates: min(100, members/3), TagSpacing: 500 * time.Millisecond,
				Kills: min(10, max(1, members/6)), KillSpacing: 3 * time.Second,
				Partition: 2 * time.Minute,
				Limit:     10 * time.Minute,
			}
			var res Result
			for b.Loop() {
				res = runChild(b, sc)
			}
			secs := func(d time.Duration) float64 { return d.Seconds() }
			b.ReportMetric(secs(Quantile(res.TagLatencies, 0.99)), "tag-p99-sim-s")
			b.ReportMetric(secs(Quantile(res.TagLatencies, 0.50)), "tag-p50-sim-s")
			b.ReportMetric(float64(res.TagMissed), "tag-missed")
			b.ReportMetric(secs(Quantile(res.DetectLatencies, 0.50)), "detect-p50-sim-s")
			b.ReportMetric(float64(res.DetectMissed), "detect-missed")
			b.ReportMetric(float64(res.FalseFailed), "false-failed")
			reconverge := secs(res.Reconverge)
			if res.ReconvergeMissed {
				reconverge = -1 // not within Limit
			}
			b.ReportMetric(reconverge, "heal-sim-s")
			b.ReportMetric(secs(res.Join), "join-sim-s")
		})
	}
}

func runChild(b *testing.B, sc Scenario) Result {
	b.Helper()
	raw, err := json.Marshal(sc)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "result.json")
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(b.Context(), self, "-test.run", "^TestBenchScenario$", "-test.count", "1", "-test.timeout", "60m")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+string(raw), resultEnv+"="+out)
	if log, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("scenario child: %v\n%s", err, log)
	} else if testing.Verbose() {
		b.Logf("child:\n%s", log)
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("scenario child wrote no result: %v", err)
	}
	var res Result
	if err := json.Unmarshal(buf, &res); err != nil {
		b.Fatalf("scenario result: %v", err)
	}
	return res
}
