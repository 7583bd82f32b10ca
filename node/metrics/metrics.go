// Package metrics holds a node's Prometheus metrics: counters and histograms
// the node updates as it works, and gauges read from its status at scrape
// time. Each node has its own registry (no global default registry), so
// several nodes in one process — tests, the fleet evaluation — do not mix.
// The node package updates it; main serves Handler at /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one node's metrics.
type Metrics struct {
	reg *prometheus.Registry

	// QueryLatency is the time of a whole query, by route (local, central,
	// peer:<name>).
	QueryLatency *prometheus.HistogramVec
	// Answers counts answers by route and mode (extractive, generative),
	// and whether the node abstained or answered degraded.
	Answers *prometheus.CounterVec
	// Escalations counts queries sent to another node, by reason.
	Escalations *prometheus.CounterVec
	// Retrieval and Generation time the two halves of a local answer.
	Retrieval  prometheus.Histogram
	Generation prometheus.Histogram
	// IngestedDocuments and IngestedChunks count what ingest stored; their
	// rate is the ingest rate.
	IngestedDocuments prometheus.Counter
	IngestedChunks    prometheus.Counter
	// FlaggedChunks counts stored chunks the injection and poisoning
	// screen flagged, by flag; Withheld counts passages whose flagged
	// sentences were left out of an answer; Conflicts counts answers that
	// reported disagreeing sources.
	FlaggedChunks *prometheus.CounterVec
	Withheld      prometheus.Counter
	Conflicts     prometheus.Counter
	// Redactions counts what was redacted from questions before they left
	// the node, by pattern.
	Redactions *prometheus.CounterVec
	// Shed counts requests refused by admission control, by class
	// (retrieval, generation, ingest) and reason (queue_full, deadline).
	Shed *prometheus.CounterVec
}

// Query latencies on an edge span 0.1 ms (BM25 over a small shard) to
// seconds (generation on a CPU, escalation over a bad link).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns a node's metrics with the Go runtime and process collectors
// registered beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		QueryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edgerag_query_duration_seconds", Help: "Time to answer a query, by route.", Buckets: latencyBuckets,
		}, []string{"route"}),
		Answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgerag_answers_total", Help: "Answers by route, mode and outcome (answered, abstained, degraded).",
		}, []string{"route", "mode", "outcome"}),
		Escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgerag_escalations_total", Help: "Queries sent to another node, by reason.",
		}, []string{"reason"}),
		Retrieval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgerag_retrieval_duration_seconds", Help: "Time to retrieve the passages of a local answer.", Buckets: latencyBuckets,
		}),
		Generation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgerag_answer_duration_seconds", Help: "Time to write a local answer from its passages (extractive or generative).", Buckets: latencyBuckets,
		}),
		IngestedDocuments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgerag_ingested_documents_total", Help: "Documents stored by ingest.",
		}),
		IngestedChunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgerag_ingested_chunks_total", Help: "Chunks stored by ingest.",
		}),
		FlaggedChunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgerag_flagged_chunks_total", Help: "Chunks stored with a flag from the injection and poisoning screen, by flag.",
		}, []string{"flag"}),
		Withheld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgerag_withheld_passages_total", Help: "Retrieved passages whose flagged sentences were left out of an answer.",
		}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgerag_conflicting_answers_total", Help: "Answers whose cited passages disagree.",
		}),
		Redactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgerag_redactions_total", Help: "Redactions applied to questions sent to a peer or central, by pattern.",
		}, []string{"pattern"}),
		Shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgerag_shed_total", Help: "Requests refused by admission control (429), by class and reason.",
		}, []string{"class", "reason"}),
	}
	m.reg.MustRegister(m.QueryLatency, m.Answers, m.Escalations, m.Retrieval, m.Generation,
		m.IngestedDocuments, m.IngestedChunks, m.FlaggedChunks, m.Withheld, m.Conflicts, m.Redactions, m.Shed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Snapshot is what the node reports at scrape time.
type Snapshot struct {
	Shards     map[string]ShardSnapshot
	StoreBytes int64
	ModelUp    float64 // 1 up, 0 down, -1 no model configured
	CentralUp  float64 // 1 closed circuit, 0 open, -1 no central
	// Admission is each admission gate's load. On central every query
	// arrives escalated, so its retrieval gate's waiting count is the
	// escalation queue an autoscaler watches.
	Admission []AdmissionGate
	// Recalibration is the edge's online recalibration of its confidence;
	// nil on a node that does not learn from central's answers.
	Recalibration *Recalibration
}

// Recalibration is what an edge learned from central's answers to its
// escalations (see confidence.Online).
type Recalibration struct {
	Scale, Offset float64
	// Threshold is the raw model confidence below which the node now
	// escalates; Target the escalation threshold it corresponds to.
	Threshold, Target float64
	Labels            int64   // outcomes ever observed
	Window            int     // outcomes the fit now uses
	Agreed            float64 // share of the window where central agreed
}

// AdmissionGate is one admission class at scrape time.
type AdmissionGate struct {
	Class            string
	Running, Waiting int
}

// ShardSnapshot is one shard at scrape time.
type ShardSnapshot struct {
	Version           uint64
	Documents, Chunks int
}

// Observe registers gauges computed from snap at every scrape. Call it once.
func (m *Metrics) Observe(snap func() Snapshot) {
	m.reg.MustRegister(&snapshotCollector{snap: snap})
}

// ObserveMembers registers the gossip members gauge, read from members
// (count by status: alive, suspect, failed, leaving, left) at every
// scrape. Call it once, on nodes that run membership.
func (m *Metrics) ObserveMembers(members func() map[string]int) {
	m.reg.MustRegister(&membersCollector{members: members})
}

var descGossipMembers = prometheus.NewDesc("edgerag_gossip_members", "Gossip pool members by status, as this node sees them.", []string{"status"}, nil)

type membersCollector struct{ members func() map[string]int }

func (c *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descGossipMembers }

func (c *membersCollector) Collect(ch chan<- prometheus.Metric) {
	for status, n := range c.members() {
		ch <- prometheus.MustNewConstMetric(descGossipMembers, prometheus.GaugeValue, float64(n), status)
	}
}

// SyncShard is one shard's fleet sync state, for the sync gauges.
type SyncShard struct {
	Shard   string
	Applied uint64
	// Progress is the share of the version in flight already fetched; 1
	// when none is.
	Progress float64
	Healthy  bool // false while the last sync of the shard failed
}

// ObserveSync registers the fleet sync gauges, read from shards at every
// scrape. Call it once, on edges that run fleet sync.
func (m *Metrics) ObserveSync(shards func() []SyncShard) {
	m.reg.MustRegister(&syncCollector{shards: shards})
}

var (
	descSyncApplied  = prometheus.NewDesc("edgerag_sync_applied_version", "Shard version applied by fleet sync (what queries see).", []string{"shard"}, nil)
	descSyncProgress = prometheus.NewDesc("edgerag_sync_progress_ratio", "Share of the shard version in flight already fetched; 1 when none is.", []string{"shard"}, nil)
	descSyncHealthy  = prometheus.NewDesc("edgerag_sync_healthy", "1 when the shard's last sync succeeded, 0 while it is failing.", []string{"shard"}, nil)
)

type syncCollector struct{ shards func() []SyncShard }

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSyncApplied
	ch <- descSyncProgress
	ch <- descSyncHealthy
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.shards() {
		healthy := 0.0
		if s.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(descSyncApplied, prometheus.GaugeValue, float64(s.Applied), s.Shard)
		ch <- prometheus.MustNewConstMetric(descSyncProgress, prometheus.GaugeValue, s.Progress, s.Shard)
		ch <- prometheus.MustNewConstMetric(descSyncHealthy, prometheus.GaugeValue, healthy, s.Shard)
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descShardVersion = prometheus.NewDesc("edgerag_shard_version", "Version of each shard held.", []string{"shard"}, nil)
	descShardChunks  = prometheus.NewDesc("edgerag_shard_chunks", "Chunks of each shard held.", []string{"shard"}, nil)
	descShardDocs    = prometheus.NewDesc("edgerag_shard_documents", "Documents of each shard held.", []string{"shard"}, nil)
	descStoreBytes   = prometheus.NewDesc("edgerag_store_bytes", "Size of the Badger database on disk.", nil, nil)
	descModelUp      = prometheus.NewDesc("edgerag_model_up", "1 when the generation model answers, 0 when it is down, -1 when none is configured.", nil, nil)
	descCentralUp    = prometheus.NewDesc("edgerag_central_up", "1 when the circuit to central is closed, 0 when open or half-open, -1 when no central is configured.", nil, nil)
	descAdmRunning   = prometheus.NewDesc("edgerag_admission_running", "Requests holding an admission slot now, by class (retrieval, generation, ingest).", []string{"class"}, nil)
	descAdmWaiting   = prometheus.NewDesc("edgerag_admission_waiting", "Requests queued for an admission slot now, by class; on central, retrieval's is the escalation queue.", []string{"class"}, nil)
	descRecalScale   = prometheus.NewDesc("edgerag_recalibration_scale", "Scale of the edge's online recalibration of its confidence (1: as the model was fitted).", nil, nil)
	descRecalOffset  = prometheus.NewDesc("edgerag_recalibration_offset", "Offset, in log-odds, of the edge's online recalibration of its confidence (0: as fitted).", nil, nil)
	descRecalThresh  = prometheus.NewDesc("edgerag_escalation_threshold_raw", "Model confidence below which the edge now escalates (escalate-below, through the recalibration).", nil, nil)
	descRecalLabels  = prometheus.NewDesc("edgerag_recalibration_labels", "Escalations whose answer from central the edge has learned from.", nil, nil)
	descRecalAgreed  = prometheus.NewDesc("edgerag_recalibration_agreed_ratio", "Share of the learning window where central's answer would not have changed the edge's (ranked alike, abstained, or no better supported: confidence.Settled).", nil, nil)
)

type snapshotCollector struct{ snap func() Snapshot }

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descShardVersion, descShardChunks, descShardDocs, descStoreBytes, descModelUp, descCentralUp, descAdmRunning, descAdmWaiting,
		descRecalScale, descRecalOffset, descRecalThresh, descRecalLabels, descRecalAgreed} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	for name, sh := range s.Shards {
		ch <- prometheus.MustNewConstMetric(descShardVersion, prometheus.GaugeValue, float64(sh.Version), name)
		ch <- prometheus.MustNewConstMetric(descShardChunks, prometheus.GaugeValue, float64(sh.Chunks), name)
		ch <- prometheus.MustNewConstMetric(descShardDocs, prometheus.GaugeValue, float64(sh.Documents), name)
	}
	ch <- prometheus.MustNewConstMetric(descStoreBytes, prometheus.GaugeValue, float64(s.StoreBytes))
	ch <- prometheus.MustNewConstMetric(descModelUp, prometheus.GaugeValue, s.ModelUp)
	ch <- prometheus.MustNewConstMetric(descCentralUp, prometheus.GaugeValue, s.CentralUp)
	for _, g := range s.Admission {
		ch <- prometheus.MustNewConstMetric(descAdmRunning, prometheus.GaugeValue, float64(g.Running), g.Class)
		ch <- prometheus.MustNewConstMetric(descAdmWaiting, prometheus.GaugeValue, float64(g.Waiting), g.Class)
	}
	if r := s.Recalibration; r != nil {
		ch <- prometheus.MustNewConstMetric(descRecalScale, prometheus.GaugeValue, r.Scale)
		ch <- prometheus.MustNewConstMetric(descRecalOffset, prometheus.GaugeValue, r.Offset)
		ch <- prometheus.MustNewConstMetric(descRecalThresh, prometheus.GaugeValue, r.Threshold)
		ch <- prometheus.MustNewConstMetric(descRecalLabels, prometheus.GaugeValue, float64(r.Labels))
		ch <- prometheus.MustNewConstMetric(descRecalAgreed, prometheus.GaugeValue, r.Agreed)
	}
}
