package gossipsim

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/edgerag/edgerag/node/membership"
)

// pollEvery is how often waits look at the tracker. Times are taken from the
// events themselves, so it bounds only how long a wait overshoots.
const pollEvery = 100 * time.Millisecond

// tracker builds every member's view of the pool from its Serf events, and
// timestamps the moments the scenario measures. Each view costs O(1) per
// event, so 300 members' 90,000 pairs stay cheap.
type tracker struct {
	index map[string]int // member name to index; written before events flow

	mu        sync.Mutex
	alive     [][]bool // alive[o][m]: observer o sees m alive
	live      []bool   // not killed
	liveCount int
	aliveLive []int     // per observer: live members other than itself it sees alive
	full      int       // live observers that see every other live member alive
	fullAt    time.Time // when full last reached liveCount
	tags      map[string]*sighting
	failed    map[int]*sighting // per killed member
	falsely   map[int]time.Time // live members someone marked failed, and when first
}

// sighting counts the distinct live observers that saw something.
type sighting struct {
	seen  []bool
	count int
	last  time.Time
}

func newTracker(n int) *tracker {
	t := &tracker{
		index:     make(map[string]int, n),
		alive:     make([][]bool, n),
		live:      make([]bool, n),
		liveCount: n,
		aliveLive: make([]int, n),
		tags:      make(map[string]*sighting),
		failed:    make(map[int]*sighting),
		falsely:   make(map[int]time.Time),
	}
	for i := range t.alive {
		t.alive[i] = make([]bool, n)
		t.live[i] = true
	}
	return t
}

// consume applies observer o's events until stop closes. Serf blocks on a
// full event channel, so this must keep up: it only updates counters.
func (t *tracker) consume(o int, events <-chan serf.Event, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case e := <-events:
			me, ok := e.(serf.MemberEvent)
			if !ok {
				continue
			}
			for _, m := range me.Members {
				i, ok := t.index[m.Name]
				if !ok || i == o {
					continue
				}
				switch me.Type {
				case serf.EventMemberJoin, serf.EventMemberUpdate:
					digest := ""
					if tags, err := membership.DecodeTags(m.Tags); err == nil {
						digest = tags.Digest
					}
					t.sawAlive(o, i, digest)
				case serf.EventMemberFailed:
					t.sawFailed(o, i)
				case serf.EventMemberLeave, serf.EventMemberReap:
					t.setAlive(o, i, false)
				}
			}
		}
	}
}

func (t *tracker) sawAlive(o, m int, digest string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setAliveLocked(o, m, true)
	if s := t.tags[digest]; s != nil && t.live[o] && !s.seen[o] {
		s.seen[o] = true
		s.count++
		s.last = time.Now()
	}
}

func (t *tracker) sawFailed(o, m int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setAliveLocked(o, m, false)
	if !t.live[m] {
		if s := t.failed[m]; s != nil && t.live[o] && !s.seen[o] {
			s.seen[o] = true
			s.count++
			s.last = time.Now()
		}
		return
	}
	// A dead member's own view does not count: cut off, it sees everyone
	// fail, but no one hears it.
	if _, ok := t.falsely[m]; !ok && t.live[o] {
		t.falsely[m] = time.Now()
	}
}

func (t *tracker) setAlive(o, m int, alive bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setAliveLocked(o, m, alive)
}

func (t *tracker) setAliveLocked(o, m int, alive bool) {
	if t.alive[o][m] == alive {
		return
	}
	t.alive[o][m] = alive
	if !t.live[o] || !t.live[m] {
		return
	}
	before := t.aliveLive[o] == t.liveCount-1
	if alive {
		t.aliveLive[o]++
	} else {
		t.aliveLive[o]--
	}
	after := t.aliveLive[o] == t.liveCount-1
	switch {
	case after && !before:
		t.full++
		if t.full == t.liveCount {
			t.fullAt = time.Now()
		}
	case before && !after:
		t.full--
	}
}

// expect starts counting who sees a tag update with this shard digest.
func (t *tracker) expect(digest string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tags[digest] = &sighting{seen: make([]bool, len(t.live))}
}

// kill takes member m out of the live set and starts counting who marks
// it failed.
func (t *tracker) kill(m int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live[m] = false
	t.liveCount--
	t.failed[m] = &sighting{seen: make([]bool, len(t.live))}
	t.full = 0
	for o := range t.live {
		if t.alive[o][m] {
			t.aliveLive[o]--
		}
		if t.live[o] && t.aliveLive[o] == t.liveCount-1 {
			t.full++
		}
	}
	if t.full == t.liveCount {
		t.fullAt = time.Now()
	}
}

// falseFailed returns, per live member some member marked failed, when
// that first happened.
func (t *tracker) falseFailed() map[int]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.falsely)
}

// waitFull waits until every live member sees every other alive, and
// returns when that became true, or false after limit.
func (t *tracker) waitFull(ctx context.Context, since time.Time, limit time.Duration) (time.Time, bool) {
	return t.wait(ctx, since, limit, func() (time.Time, bool) {
		return t.fullAt, t.full == t.liveCount
	})
}

// waitTag waits until every live member but the updater saw the digest.
func (t *tracker) waitTag(ctx context.Context, digest string, since time.Time, limit time.Duration) (time.Time, bool) {
	return t.wait(ctx, since, limit, func() (time.Time, bool) {
		s := t.tags[digest]
		return s.last, s.count >= t.liveCount-1
	})
}

// waitFailed waits until every live member marked killed member m failed.
func (t *tracker) waitFailed(ctx context.Context, m int, since time.Time, limit time.Duration) (time.Time, bool) {
	return t.wait(ctx, since, limit, func() (time.Time, bool) {
		s := t.failed[m]
		return s.last, s.count >= t.liveCount
	})
}

func (t *tracker) wait(ctx context.Context, since time.Time, limit time.Duration, done func() (time.Time, bool)) (time.Time, bool) {
	for {
		t.mu.Lock()
		at, ok := done()
		t.mu.Unlock()
		if ok {
			if at.Before(since) {
				at = since
			}
			return at, true
		}
		if time.Since(since) > limit || sleep(ctx, pollEvery) != nil {
			return time.Time{}, false
		}
	}
}
