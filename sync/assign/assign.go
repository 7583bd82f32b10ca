// Package assign decides which central replicas hold which shards when the
// full index is larger than one replica. Assign is a pure function of the
// live replica set, the shard list and the replication factor, so every
// replica computes the same answer from what it reads in etcd, with no
// coordinator and no extra round of agreement.
//
// It is rendezvous (highest random weight) hashing with bounded loads:
// each shard ranks every replica by a hash of the pair and goes to the
// first ones in that ranking that still have room. The ranking of a pair
// never depends on the other replicas, so a replica that joins takes only
// the shards it now ranks first on (and a replica that leaves gives up
// only its own); the load bound keeps a few unlucky hashes from piling
// many shards on one replica when shards are few.
//
// It is part of the pure core: no I/O, no clocks, no globals. node/agent
// imports it; it imports only the standard library.
package assign

import (
	"cmp"
	"math"
	"slices"
)

// DefaultSlack is how far above the mean load a replica may be filled:
// 1.25 lets a replica take a quarter more than its even share, which keeps
// the moves on a join or leave close to the minimum while no replica holds
// much more than the others.
const DefaultSlack = 1.25

// Config tunes Assign.
type Config struct {
	// Replicas is how many replicas hold each shard (the replication
	// factor); 0 or less means 1, and it is capped at the live replicas.
	Replicas int
	// Slack bounds a replica's load at ceil(Slack × shards × Replicas /
	// replicas); below 1 (the zero value included) it is DefaultSlack.
	Slack float64
}

// Assignment maps each shard to the replicas that hold it, in the order
// to ask them (its rendezvous ranking).
type Assignment map[string][]string

// Assign computes the assignment of shards to replicas. Names repeated in
// either list count once; the inputs are not changed. With no replicas
// every shard maps to nothing.
func Assign(replicas, shards []string, cfg Config) Assignment {
	rs := uniq(replicas)
	ss := uniq(shards)
	out := make(Assignment, len(ss))
	if len(rs) == 0 {
		for _, s := range ss {
			out[s] = nil
		}
		return out
	}
	r := min(max(cfg.Replicas, 1), len(rs))
	slack := cfg.Slack
	if !(slack >= 1) {
		slack = DefaultSlack
	}
	limit := int(math.Ceil(slack * float64(len(ss)*r) / float64(len(rs))))
	load := make(map[string]int, len(rs))
	// Shards are placed in the order of their own hash, not their name, so
	// that shards named alike (manuals-1, manuals-2…) do not all claim
	// room first.
	slices.SortFunc(ss, func(a, b string) int {
		if c := cmp.Compare(hash(a, ""), hash(b, "")); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, s := range ss {
		ranked := Rank(s, rs)
		var got []string
		for _, name := range ranked {
			if len(got) == r {
				break
			}
			if load[name] < limit {
				got = append(got, name)
				load[name]++
			}
		}
		// The last shards may find room only on replicas that already
		// hold them; a copy over the bound beats one too few.
		for _, name := range ranked {
			if len(got) == r {
				break
			}
			if !slices.Contains(got, name) {
				got = append(got, name)
				load[name]++
			}
		}
		out[s] = got
	}
	return out
}

// Rank orders replicas for shard by their rendezvous weight, highest
// first (ties by name, which only equal hashes reach).
func Rank(shard string, replicas []string) []string {
	rs := slices.Clone(replicas)
	slices.SortFunc(rs, func(a, b string) int {
		if c := cmp.Compare(hash(shard, b), hash(shard, a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return rs
}

// Held lists the shards a assigns to replica, sorted.
func (a Assignment) Held(replica string) []string {
	var out []string
	for s, rs := range a {
		if slices.Contains(rs, replica) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Moves counts the shard copies that must be fetched to go from a to b:
// for every shard, the replicas b names that a did not.
func Moves(a, b Assignment) int {
	n := 0
	for s, rs := range b {
		for _, r := range rs {
			if !slices.Contains(a[s], r) {
				n++
			}
		}
	}
	return n
}

func uniq(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return out
}

// hash is FNV-1a over shard, a separator and replica, finished with
// splitmix64's mixer: FNV alone leaves names that differ in their last
// byte (replica-1, replica-2) with weights too close to rank fairly.
func hash(shard, replica string) uint64 {
	h := uint64(14695981039346656037)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	add(shard)
	h ^= 0xff
	h *= 1099511628211
	add(replica)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
