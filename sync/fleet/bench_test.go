package fleet_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerag/edgerag/node/agent"
	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/evalset"
	"github.com/edgerag/edgerag/node/nodetest"
	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/manifest"
)

// countingConn counts the UDP bytes a server sends: every QUIC packet,
// handshake, acknowledgement and retransmission included.
type countingConn struct {
	net.PacketConn
	sent atomic.Int64
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	c.sent.Add(int64(n))
	return n, err
}

// corpus100k is a 100,000-chunk shard: 25,000 documents of four sections.
var corpus100k = evalset.Synthetic{Docs: 25000, SectionsPerDoc: 4, WordsPerSection: 90, Vocabulary: 50000, Seed: 1}

func ingestCorpus(b *testing.B, c *central, s evalset.Synthetic, changed func(i int) bool, suffix string) {
	b.Helper()
	var batch []api.Document
	i := 0
	err := s.Generate(func(d evalset.Doc) error {
		defer func() { i++ }()
		if changed != nil && !changed(i) {
			return nil
		}
		// A changed document gets a new title and a new last sentence: every
		// one of its chunks (they carry the title) changes.
		batch = append(batch, api.Document{ID: d.ID, Shard: shardName, Title: d.Title + suffix, Format: "markdown", Body: d.Text + suffix})
		if len(batch) == 1000 {
			_, err := c.n.Ingest(context.Background(), batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		_, err = c.n.Ingest(context.Background(), batch)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeltaBytes100k: after 1% of a 100k-chunk shard's documents
// change, the UDP bytes central sends an edge that holds the previous
// version, against the bytes of the changed chunk records plus the signed
// manifest. The ratio must stay at or below 1.2.
func BenchmarkDeltaBytes100k(b *testing.B) {
	p := nodetest.StartFleet(b)
	c := startCentralConn(b, p)
	ingestCorpus(b, c.central, corpus100k, nil, "")
	c.central.publish(b)
	e := startEdge(b, p, c.central, "edge-1")
	e.batch = 0 // the default, 1 MiB
	e.newSyncer()
	if err := e.s.SyncOnce(context.Background()); err != nil {
		b.Fatal(err)
	}
	// The apply phase: from the fetched records being recorded to the
	// version switched in (staging the version locally, then the switch).
	var recorded, applied time.Time
	e.hook = func(p string) error {
		switch p {
		case "recorded":
			recorded = time.Now()
		case "applied":
			applied = time.Now()
		}
		return nil
	}
	version := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		version++
		suffix := " Revised in revision " + string(rune('a'+version%26)) + "."
		ingestCorpus(b, c.central, corpus100k, func(i int) bool { return i%100 == version%100 }, suffix)
		res := c.central.publish(b)
		signed, err := c.central.n.SyncKV().Get(manifestKeyForTest(res.Version))
		if err != nil {
			b.Fatal(err)
		}
		m, _ := fleet.LoadShard(context.Background(), c.central.n.SyncKV(), signed)
		held := map[manifest.Hash]bool{}
		prev, _ := e.n.SyncPointer(shardName)
		if old, err := e.n.SyncKV().Get(manifestKeyForTest(prev.Current)); err == nil {
			om, _ := fleet.LoadShard(context.Background(), e.n.SyncKV(), old)
			for _, ch := range om.Chunks {
				held[ch.Hash] = true
			}
		}
		var changed int64
		nChanged := 0
		for _, ch := range manifest.Missing(&m, func(h manifest.Hash) bool { return held[h] }) {
			changed += int64(ch.Size)
			nChanged++
		}
		before := c.conn.sent.Load()
		analysed0, copied0 := e.n.StagedDocs()
		b.StartTimer()
		if err := e.s.SyncOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sent := c.conn.sent.Load() - before
		ratio := float64(sent) / float64(changed+int64(len(signed)))
		b.ReportMetric(ratio, "sent/(changed+manifest)")
		b.ReportMetric(float64(sent-int64(len(signed)))/float64(changed), "(sent-manifest)/changed")
		b.ReportMetric(float64(sent), "bytes_sent")
		b.ReportMetric(float64(changed), "changed_chunk_bytes")
		b.ReportMetric(float64(len(signed)), "manifest_bytes")
		b.ReportMetric(float64(nChanged), "changed_chunks")
		analysed, copied := e.n.StagedDocs()
		b.ReportMetric(applied.Sub(recorded).Seconds(), "apply_s")
		b.ReportMetric(float64(analysed-analysed0), "analysed_docs")
		b.ReportMetric(float64(copied-copied0), "copied_docs")
		if ratio > 1.2 {
			b.Errorf("sent %d bytes for %d bytes of changed chunks and a %d-byte manifest: ratio %.3f > 1.2", sent, changed, len(signed), ratio)
		}
		b.StartTimer()
	}
}

type countedCentral struct {
	central *central
	conn    *countingConn
}

// startCentralConn is startCentral on a UDP socket that counts bytes sent.
func startCentralConn(b *testing.B, p *nodetest.Fleet) *countedCentral {
	b.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { udp.Close() }) // after central, which serves on it
	cc := &countingConn{PacketConn: udp}
	c := startCentralWith(b, p, func(cfg *agent.Config) { cfg.Hooks.PacketConn = cc })
	return &countedCentral{central: c, conn: cc}
}
