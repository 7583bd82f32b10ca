package gossipsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/edgerag/edgerag/node/membership"
)

// Scenario is one simulation run.
type Scenario struct {
	Members int    // pool size, at least 4
	Profile string // a membership profile name: "lan" or "edge"
	// Override, when set, is measured instead of the named profile: how
	// candidate timings are tried before a profile adopts them.
	Override *membership.Profile `json:",omitempty"`
	Link     LinkConfig
	Seed     uint64
	// TagUpdates is how many members change their tags (one new shard
	// version each), TagSpacing apart.
	TagUpdates int
	TagSpacing time.Duration
	// Kills is how many members die silently (their packets stop both
	// ways), KillSpacing apart.
	Kills       int
	KillSpacing time.Duration
	// Partition is how long the pool is split in two halves before it heals;
	// 0 skips that phase.
	Partition time.Duration
	// Limit bounds each wait (convergence, one update, detection, heal);
	// what has not happened by then is counted as missed. 0 means 5 minutes.
	Limit time.Duration
	// Log receives progress; nil discards it.
	Log *slog.Logger `json:"-"`
}

// Result holds what a run measured, in simulated time.
type Result struct {
	Join time.Duration // from the first join until every member sees every other alive
	// TagLatencies holds, per update that reached every live member, the
	// time from SetTags until the last of them saw it; TagMissed counts the
	// others.
	TagLatencies []time.Duration
	TagMissed    int
	// DetectLatencies holds, per killed member that every live member
	// marked failed, the time from its death until the last of them did.
	DetectLatencies []time.Duration
	DetectMissed    int
	// FalseFailed counts members that some member marked failed although
	// they never died, outside the partition phase.
	FalseFailed int
	// Reconverge is the time from healing the partition until every live
	// member saw every other alive again; ReconvergeMissed is set when that
	// did not happen within Limit.
	Reconverge       time.Duration
	ReconvergeMissed bool
	Net              Stats
}

// Quantile returns the q-quantile (nearest rank) of ds, or 0 when empty.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

func (sc *Scenario) validate() error {
	switch {
	case sc.Members < 4:
		return fmt.Errorf("scenario: %d members; want at least 4", sc.Members)
	case sc.TagUpdates+sc.Kills > sc.Members/2:
		return fmt.Errorf("scenario: %d tag updates and %d kills need distinct members; want their sum ≤ members/2 (%d)", sc.TagUpdates, sc.Kills, sc.Members/2)
	case sc.TagSpacing < 0 || sc.KillSpacing < 0 || sc.Partition < 0 || sc.Limit < 0:
		return errors.New("scenario: spacings, partition and limit must not be negative")
	}
	if sc.Override == nil {
		if _, err := membership.ProfileByName(sc.Profile); err != nil {
			return fmt.Errorf("scenario: %w", err)
		}
	}
	return sc.Link.Validate()
}

// member is one simulated Serf agent.
type member struct {
	idx    int
	name   string
	addr   string
	serf   *serf.Serf
	events chan serf.Event
}

// Run executes the scenario. It must run inside a testing/synctest bubble
// (it sleeps through minutes of gossip). It returns when every member has
// shut down and every goroutine it started has ended.
//
// It is long because it is the scenario's timeline read top to bottom: build
// the network and the members, play the scheduled events, then collect what
// every member saw.
func Run(ctx context.Context, sc Scenario) (Result, error) {
	if err := sc.validate(); err != nil {
		return Result{}, err
	}
	if sc.Limit == 0 {
		sc.Limit = 5 * time.Minute
	}
	log := sc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	profile, _ := membership.ProfileByName(sc.Profile)
	if sc.Override != nil {
		profile = *sc.Override
	}
	network, err := NewNetwork(sc.Link, sc.Seed)
	if err != nil {
		return Result{}, err
	}
	rng := rand.New(rand.NewPCG(sc.Seed, 1))
	tr := newTracker(sc.Members)

	members := make([]*member, sc.Members)
	var consumers sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		// Shut members down in parallel (each waits for its memberlist
		// goroutines), then stop the event consumers.
		var wg sync.WaitGroup
		for _, m := range members {
			if m != nil && m.serf != nil {
				wg.Go(func() { m.serf.Shutdown() })
			}
		}
		wg.Wait()
		close(stop)
		consumers.Wait()
		// Shutdown does not wait for probes, stream handlers and writes
		// already under way; they end within a TCP timeout. Outwait them
		// so the bubble ends with no goroutine left.
		time.Sleep(2 * time.Minute)
	}()
	for i := range members {
		m := &member{idx: i, name: fmt.Sprintf("n%03d", i), addr: fmt.Sprintf("127.0.%d.%d:7946", 1+i/250, 1+i%250)}
		tr.index[m.name] = i
		members[i] = m
	}
	for _, m := range members {
		t, err := network.Transport(m.addr)
		if err != nil {
			return Result{}, err
		}
		conf := serf.DefaultConfig()
		conf.NodeName = m.name
		conf.LogOutput = io.Discard
		conf.MemberlistConfig = memberlist.DefaultLANConfig()
		profile.Apply(conf.MemberlistConfig)
		conf.MemberlistConfig.Transport = t
		conf.MemberlistConfig.LogOutput = io.Discard
		tags, _, err := simTags(m.idx, 1)
		if err != nil {
			return Result{}, err
		}
		conf.Tags = tags
		m.events = make(chan serf.Event, 1024)
		conf.EventCh = m.events
		consumers.Go(func() { tr.consume(m.idx, m.events, stop) })
		s, err := serf.Create(conf)
		if err != nil {
			t.Shutdown()
			return Result{}, fmt.Errorf("create serf member %s: %w", m.name, err)
		}
		m.serf = s
	}

	var res Result
	live := make([]bool, sc.Members)
	for i := range live {
		live[i] = true
	}

	// Join: every member joins one of the first few, concurrently, the way
	// a site's nodes would all start with the same --join list.
	start := time.Now()
	seeds := []string{members[0].addr, members[1].addr, members[2].addr}
	for _, m := range members[1:len(seeds)] {
		if _, err := m.serf.Join(seeds[:1], true); err != nil {
			return res, fmt.Errorf("seed %s join: %w", m.name, err)
		}
	}
	var joins sync.WaitGroup
	var joinFailures atomic.Int64
	for _, m := range members[len(seeds):] {
		joins.Go(func() {
			if _, err := m.serf.Join([]string{seeds[m.idx%len(seeds)]}, true); err != nil {
				joinFailures.Add(1)
			}
		})
	}
	joins.Wait()
	if n := joinFailures.Load(); n > 0 {
		// Gossip from the others may still bring them in; the wait decides.
		log.Warn("joins failed", "count", n)
	}
	at, ok := tr.waitFull(ctx, start, sc.Limit)
	if !ok {
		return res, fmt.Errorf("pool of %d did not converge within %v after joining", sc.Members, sc.Limit)
	}
	res.Join = at.Sub(start)
	log.Info("joined", "members", sc.Members, "after", res.Join)

	perm := rng.Perm(sc.Members)
	updaters, victims := perm[:sc.TagUpdates], perm[sc.TagUpdates:sc.TagUpdates+sc.Kills]

	// Tag updates: one new shard version on each updater, spaced, measured
	// until every live member has seen that member's new digest.
	type update struct {
		digest string
		at     time.Time
	}
	updates := make([]update, 0, len(updaters))
	var setters sync.WaitGroup
	for _, i := range updaters {
		tags, digest, err := simTags(i, 2)
		if err != nil {
			return res, err
		}
		tr.expect(digest)
		updates = append(updates, update{digest: digest, at: time.Now()})
		// SetTags blocks until the broadcast has been sent its last time.
		setters.Go(func() { _ = members[i].serf.SetTags(tags) })
		if err := sleep(ctx, sc.TagSpacing); err != nil {
			return res, err
		}
	}
	setters.Wait()
	for _, u := range updates {
		if last, ok := tr.waitTag(ctx, u.digest, u.at, sc.Limit); ok {
			res.TagLatencies = append(res.TagLatencies, last.Sub(u.at))
		} else {
			res.TagMissed++
		}
	}
	log.Info("tags", "p50", Quantile(res.TagLatencies, 0.5), "p99", Quantile(res.TagLatencies, 0.99), "missed", res.TagMissed)

	// Silent deaths: the victim's packets stop both ways; it is shut down
	// only after the others have judged it, so it sends nothing on the way.
	killedAt := make(map[int]time.Time, len(victims))
	for _, i := range victims {
		network.SetDown(members[i].addr, true)
		killedAt[i] = time.Now()
		tr.kill(i)
		live[i] = false
		if err := sleep(ctx, sc.KillSpacing); err != nil {
			return res, err
		}
	}
	for _, i := range victims {
		if last, ok := tr.waitFailed(ctx, i, killedAt[i], sc.Limit); ok {
			res.DetectLatencies = append(res.DetectLatencies, last.Sub(killedAt[i]))
		} else {
			res.DetectMissed++
		}
	}
	falsely := tr.falseFailed()
	res.FalseFailed = len(falsely)
	for i, at := range falsely {
		log.Warn("live member marked failed", "member", members[i].name, "after_start", at.Sub(start))
	}
	log.Info("detect", "p50", Quantile(res.DetectLatencies, 0.5), "missed", res.DetectMissed, "false_failed", res.FalseFailed)

	if sc.Partition > 0 {
		var a, b []string
		for _, i := range rng.Perm(sc.Members) {
			if !live[i] {
				continue
			}
			if len(a) <= len(b) {
				a = append(a, members[i].addr)
			} else {
				b = append(b, members[i].addr)
			}
		}
		network.Partition(a, b)
		if err := sleep(ctx, sc.Partition); err != nil {
			return res, err
		}
		healed := time.Now()
		network.Heal()
		at, ok := tr.waitFull(ctx, healed, sc.Limit)
		res.Reconverge, res.ReconvergeMissed = at.Sub(healed), !ok
		log.Info("healed", "reconverge", res.Reconverge, "missed", res.ReconvergeMissed)
	}
	res.Net = network.Stats()
	return res, nil
}

// simTags returns realistic tags (as membership encodes them) for member i
// holding three shards at version v, and their shard digest, which changes
// with v.
func simTags(i int, v uint64) (map[string]string, string, error) {
	shards := []membership.ShardVersion{{Name: "manuals", Version: v}, {Name: "faults", Version: 7}, {Name: fmt.Sprintf("site-%03d", i), Version: 1}}
	t, err := membership.NewTags("edge", fmt.Sprintf("127.0.%d.%d:7443", 1+i/250, 1+i%250), shards, []string{"qwen3:0.6b", "bge-small"}, 0.3, "v0.9.0")
	if err != nil {
		return nil, "", fmt.Errorf("simulated tags: %w", err)
	}
	m, err := t.Encode()
	if err != nil {
		return nil, "", fmt.Errorf("simulated tags: %w", err)
	}
	return m, t.Digest, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
