package gossipsim

import (
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgerag/edgerag/node/membership"
)

func TestExploreEdge(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip("explore")
	}
	variants := map[string]func(p *membership.Profile){
		"base":     func(p *membership.Profile) {},
		"100ms/2":  func(p *membership.Profile) { p.GossipInterval = 100 * time.Millisecond },
		"150ms/3":  func(p *membership.Profile) { p.GossipNodes = 3 },
		"200ms/3":  func(p *membership.Profile) { p.GossipInterval = 200 * time.Millisecond; p.GossipNodes = 3 },
	}
	for _, name := range []string{"base", "100ms/2", "150ms/3", "200ms/3"} {
		p := membership.Edge()
		variants[name](&p)
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			res, err := Run(t.Context(), Scenario{Members: 300, Profile: "edge", Override: &p, Link: simLink(0.1), Seed: 3,
				TagUpdates: 100, TagSpacing: 500 * time.Millisecond, Limit: 5 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			_ = start
			t.Logf("%s: p50 %v p90 %v p99 %v max %v missed %d false %d lost %d", name, Quantile(res.TagLatencies, .5), Quantile(res.TagLatencies, .9), Quantile(res.TagLatencies, .99), Quantile(res.TagLatencies, 1), res.TagMissed, res.FalseFailed, res.Net.Lost)
		})
	}
}
