package assign_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/edgerag/edgerag/sync/assign"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// loads returns how many shard copies each replica holds.
func loads(a assign.Assignment, replicas []string) []int {
	out := make([]int, len(replicas))
	for i, r := range replicas {
		out[i] = len(a.Held(r))
	}
	return out
}

func TestAssignBalanced(t *testing.T) {
	for _, tc := range []struct {
		replicas, shards, r int
	}{
		{1, 5, 1}, {2, 2, 1}, {3, 8, 1}, {3, 12, 1}, {4, 12, 1}, {5, 300, 1},
		{3, 12, 2}, {5, 100, 2}, {7, 1000, 3}, {4, 3, 1}, {3, 3, 3}, {2, 5, 4},
	} {
		t.Run(fmt.Sprintf("%dreplicas-%dshards-r%d", tc.replicas, tc.shards, tc.r), func(t *testing.T) {
			rs, ss := names("central", tc.replicas), names("shard", tc.shards)
			a := assign.Assign(rs, ss, assign.Config{Replicas: tc.r})
			r := min(tc.r, tc.replicas)
			for _, s := range ss {
				got := a[s]
				if len(got) != r {
					t.Fatalf("shard %s on %v: want %d replicas", s, got, r)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(got)))) != r {
					t.Fatalf("shard %s twice on one replica: %v", s, got)
				}
			}
			limit := int(math.Ceil(assign.DefaultSlack * float64(tc.shards*r) / float64(tc.replicas)))
			for i, n := range loads(a, rs) {
				if n > limit {
					t.Errorf("%s holds %d shards; the bound is %d (loads %v)", rs[i], n, limit, loads(a, rs))
				}
			}
		})
	}
}

func TestAssignDeterministic(t *testing.T) {
	rs, ss := names("central", 5), names("shard", 40)
	a := assign.Assign(rs, ss, assign.Config{Replicas: 2})
	rev := slices.Clone(rs)
	slices.Reverse(rev)
	shuffled := append(slices.Clone(ss[20:]), ss[:20]...)
	b := assign.Assign(append(rev, rev[0]), shuffled, assign.Config{Replicas: 2})
	for _, s := range ss {
		if !slices.Equal(a[s], b[s]) {
			t.Errorf("shard %s: %v, then %v with the lists reordered", s, a[s], b[s])
		}
	}
	if len(assign.Assign(nil, ss, assign.Config{})["shard-0"]) != 0 {
		t.Error("with no replica a shard was assigned")
	}
}

// TestAssignMovesLittle: a replica that joins takes shards only for
// itself, a replica that leaves gives up only its own, within a small
// margin the load bound costs.
func TestAssignMovesLittle(t *testing.T) {
	for _, tc := range []struct {
		replicas, shards, r int
	}{
		{3, 12, 1}, {4, 40, 1}, {5, 300, 1}, {5, 100, 2}, {8, 1000, 3},
	} {
		t.Run(fmt.Sprintf("%dreplicas-%dshards-r%d", tc.replicas, tc.shards, tc.r), func(t *testing.T) {
			rs, ss := names("central", tc.replicas), names("shard", tc.shards)
			cfg := assign.Config{Replicas: tc.r}
			before := assign.Assign(rs, ss, cfg)

			joined := append(slices.Clone(rs), "central-new")
			after := assign.Assign(joined, ss, cfg)
			ideal := tc.shards * tc.r / len(joined) // what the newcomer should take
			toNew := len(after.Held("central-new"))
			moves := assign.Moves(before, after)
			if toNew == 0 {
				t.Errorf("join: the new replica took no shard")
			}
			t.Logf("join: %d copies moved, %d to the new replica (ideal share %d)", moves, toNew, ideal)
			if moves > toNew+max(2, ideal/2) {
				t.Errorf("join: %d copies moved, %d of them to the new replica (ideal share %d)", moves, toNew, ideal)
			}

			gone := rs[1]
			left := assign.Assign(slices.Delete(slices.Clone(rs), 1, 2), ss, cfg)
			lost := len(before.Held(gone))
			moves = assign.Moves(before, left)
			t.Logf("leave: %d copies moved; the replica that left held %d", moves, lost)
			if moves < lost || moves > lost+max(2, lost/2) {
				t.Errorf("leave: %d copies moved; the replica that left held %d", moves, lost)
			}
		})
	}
}

// TestRankIndependent: a pair's rank does not depend on the other
// replicas, which is what keeps moves to the shards that must move.
func TestRankIndependent(t *testing.T) {
	all := names("central", 6)
	for _, s := range names("shard", 50) {
		full := assign.Rank(s, all)
		part := assign.Rank(s, []string{all[4], all[1], all[2]})
		var want []string
		for _, r := range full {
			if slices.Contains(part, r) {
				want = append(want, r)
			}
		}
		if !slices.Equal(part, want) {
			t.Errorf("shard %s: rank among a subset %v, among all %v", s, part, full)
		}
	}
}
