// Package api is a node's local HTTP interface: the JSON types of requests and
// responses, the http.Handler that serves them on a method-pattern mux, and a
// Client that the CLI uses to talk to a running node. The handler validates
// every request (size, types, encoding) before the Service sees it. The node
// and central packages implement Service; main and tests use the Client.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgerag/edgerag/node/shard"
)

// Document is one document to ingest.
type Document struct {
	ID       string            `json:"id"`
	Shard    string            `json:"shard,omitempty"` // default "default"
	Title    string            `json:"title,omitempty"`
	Source   string            `json:"source,omitempty"` // URI the text came from
	Format   string            `json:"format,omitempty"` // text (default), markdown or html
	Body     string            `json:"body"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Trust sets the document's trust level: central, local or untrusted.
	// Empty: what its origin gives (local for ingest, untrusted for a
	// crawler or an upload). Lowering is always allowed; raising it
	// above the origin's level needs an admin.
	Trust string `json:"trust,omitempty"`
	// Origin says how the text reached the node: ingest (default),
	// crawler or upload; the last two are untrusted.
	Origin string `json:"origin,omitempty"`
	// Groups restrict the document to queries whose token shares one of
	// them; none: everyone may see it.
	Groups []string `json:"groups,omitempty"`
}

// IngestRequest carries a batch of documents. A request body may also be a
// single Document object.
type IngestRequest struct {
	Documents []Document `json:"documents"`
}

// IngestedDocument reports what happened to one document.
type IngestedDocument struct {
	ID       string `json:"id"`
	Shard    string `json:"shard"`
	Chunks   int    `json:"chunks"`
	Replaced bool   `json:"replaced"` // an earlier version was replaced
	Trust    string `json:"trust,omitempty"`
	// Flagged counts the chunks the injection and poisoning screen
	// flagged; they are stored, withheld from answers, and listed by
	// GET /v1/flagged for an admin to release or delete.
	Flagged int      `json:"flagged,omitempty"`
	Flags   []string `json:"flags,omitempty"` // the distinct flags, document-level ones included
}

// IngestResponse answers an ingest: every document is stored durably.
type IngestResponse struct {
	Documents     []IngestedDocument `json:"documents"`
	ShardVersions map[string]uint64  `json:"shard_versions"`
}

// Job is an asynchronous ingest: POST /v1/documents with "async": true
// answers 202 with it once the documents are stored durably, and GET
// /v1/jobs/{id} shows its progress.
type Job struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"` // queued, running, done or failed
	Total    int       `json:"total"`  // documents in the job
	Done     int       `json:"done"`   // documents indexed so far
	Error    string    `json:"error,omitempty"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
}

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// AsyncIngester is implemented by services with an ingest job queue.
type AsyncIngester interface {
	// SubmitIngest validates docs and queues them durably as a job.
	SubmitIngest(ctx context.Context, docs []Document) (Job, error)
	// Job returns a job's progress.
	Job(ctx context.Context, id string) (Job, error)
}

// DeleteResponse answers a document deletion.
type DeleteResponse struct {
	ID           string `json:"id"`
	Shard        string `json:"shard"`
	ShardVersion uint64 `json:"shard_version"`
}

// QueryRequest asks a question.
type QueryRequest struct {
	Question string `json:"question"`
	K        int    `json:"k,omitempty"`     // passages to retrieve; default 5, at most MaxK
	Shard    string `json:"shard,omitempty"` // restrict to one shard
	Stream   bool   `json:"stream,omitempty"`
}

// Citation is a passage the answer may cite as [N].
type Citation struct {
	N          int     `json:"n"`
	DocumentID string  `json:"document_id"`
	ChunkID    string  `json:"chunk_id"`
	Shard      string  `json:"shard"`
	Source     string  `json:"source,omitempty"`
	Title      string  `json:"title,omitempty"`
	Score      float64 `json:"score"`
	Snippet    string  `json:"snippet"`
	Cited      bool    `json:"cited"` // the answer text refers to it
	// Trust is the passage's trust level: central, local or untrusted.
	Trust string `json:"trust,omitempty"`
	// Flags name what the injection and poisoning screen found in the
	// passage; its flagged sentences are left out of the answer and of
	// the snippet.
	Flags []string `json:"flags,omitempty"`
}

// Conflict says that two cited passages disagree.
type Conflict struct {
	Kind string `json:"kind"` // number, interval or yes_no
	// Citations are the two passages' numbers, the one the answer
	// prefers (more trusted, unflagged, older) first.
	Citations [2]int    `json:"citations"`
	Values    [2]string `json:"values,omitempty"` // the disagreeing figures, in the same order
}

// FlaggedChunk is a chunk the screen flagged, as GET /v1/flagged lists it.
type FlaggedChunk struct {
	Shard      string   `json:"shard"`
	DocumentID string   `json:"document_id"`
	ChunkID    string   `json:"chunk_id"`
	Position   int      `json:"position"`
	Trust      string   `json:"trust"`
	Flags      []string `json:"flags"`
	Released   bool     `json:"released"`
	Snippet    string   `json:"snippet"` // the flagged text, for the admin to judge
}

// FlaggedList answers GET /v1/flagged.
type FlaggedList struct {
	Chunks []FlaggedChunk `json:"chunks"`
}

// ReleaseResponse answers a release of a document's flagged chunks.
type ReleaseResponse struct {
	Shard        string `json:"shard"`
	DocumentID   string `json:"document_id"`
	Released     int    `json:"released"` // chunks no longer withheld
	ShardVersion uint64 `json:"shard_version"`
}

// Timings break a query's time down, in milliseconds.
type Timings struct {
	RetrieveMS float64 `json:"retrieve_ms"`
	AnswerMS   float64 `json:"answer_ms"`
	// FirstTokenMS is when a generative answer's first token came.
	FirstTokenMS float64 `json:"first_token_ms,omitempty"`
	TotalMS      float64 `json:"total_ms"`
}

// QueryResponse is a node's answer.
type QueryResponse struct {
	Answer     string             `json:"answer"`
	Citations  []Citation         `json:"citations"`
	Confidence float64            `json:"confidence"`
	Signals    map[string]float64 `json:"signals"`
	Mode       string             `json:"mode"`      // extractive or generative
	Retrieval  string             `json:"retrieval"` // bm25, or hybrid (bm25 + dense)
	Route      string             `json:"route"`     // local, peer:<name> or central
	Reasons    []string           `json:"reasons,omitempty"`
	Abstained  bool               `json:"abstained"`
	Degraded   bool               `json:"degraded,omitempty"`
	// Model names the generation model of a generative answer.
	Model string `json:"model,omitempty"`
	// InvalidCitations counts citation marks the model wrote for passages
	// it was not given; they were removed from the answer.
	InvalidCitations int `json:"invalid_citations,omitempty"`
	// Conflicts lists pairs of cited passages that disagree; the answer
	// says so and its confidence is lowered.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	Timings   Timings    `json:"timings"`
	Node      string     `json:"node"`
	RequestID string     `json:"request_id,omitempty"`
}

// Status describes a node.
type Status struct {
	Node       string       `json:"node"`
	Role       string       `json:"role"`
	Version    string       `json:"version"`
	Ready      bool         `json:"ready"`
	StartedAt  time.Time    `json:"started_at"`
	Shards     []shard.Info `json:"shards"`
	Documents  int          `json:"documents"`
	Chunks     int          `json:"chunks"`
	Terms      int          `json:"terms"`
	StoreBytes int64        `json:"store_bytes"`
	// Storage is "ok", or why writes are refused (disk full, read-only);
	// queries are answered either way.
	Storage   string `json:"storage,omitempty"`
	Retrieval string `json:"retrieval"` // bm25, or hybrid when vectors exist
	Answerer  string `json:"answerer"`  // extractive, or the generation model
	// Central is the state of the link to central: "none" when no central
	// is configured, else the circuit breaker's "closed", "open" or
	// "half-open".
	Central string `json:"central"`
	// Escalations counts queries sent to another node, by reason.
	Escalations map[string]int64 `json:"escalations"`
	// Recalibration is what an edge learned from central's answers to its
	// escalations; absent on a node that does not learn.
	Recalibration *Recalibration `json:"recalibration,omitempty"`
	// Embedding reports background embedding, when the node has an
	// embedding model.
	Embedding *EmbeddingStatus `json:"embedding,omitempty"`
	// Recent lists the latest queries, newest first.
	Recent []RecentQuery `json:"recent,omitempty"`
	// Memory is the node's own memory use.
	Memory Memory `json:"memory"`
	// Fleet summarises the gossip pool for the status page; GET /v1/fleet
	// has the full view. Empty without membership.
	Fleet []FleetMember `json:"fleet,omitempty"`
	// Sync summarises fleet sync on an edge, one entry per shard; GET
	// /v1/sync has the full view. Empty without fleet sync.
	Sync []SyncShard `json:"sync,omitempty"`
}

// Recalibration is an edge's online recalibration of its confidence: the
// confidence it acts on is σ(Scale·logit(model)+Offset), so it escalates
// below a model confidence of Threshold where escalate-below is Target.
type Recalibration struct {
	Scale     float64 `json:"scale"`
	Offset    float64 `json:"offset"`
	Threshold float64 `json:"threshold"`
	Target    float64 `json:"target"`
	Labels    int64   `json:"labels"` // escalations learned from, ever
	Window    int     `json:"window"` // labels the fit uses now
	Agreed    float64 `json:"agreed"` // share of the window where central agreed
}

// SyncShard is an edge's sync state of one shard, in brief.
type SyncShard struct {
	Shard    string `json:"shard"`
	Applied  uint64 `json:"applied"` // the version queries see
	Previous uint64 `json:"previous,omitempty"`
	Target   uint64 `json:"target,omitempty"` // being fetched or staged
	State    string `json:"state"`            // idle, fetching, staging, applying or error
	// Progress is the share of the target's missing bytes fetched, 0..1.
	Progress  float64   `json:"progress,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// FleetMember is one member of the gossip pool, in brief.
type FleetMember struct {
	Name   string   `json:"name"`
	Status string   `json:"status"` // alive, suspect, failed, leaving, left
	Shards []string `json:"shards"` // name@version
	Self   bool     `json:"self,omitempty"`
}

// EmbeddingStatus is the progress of a node's chunk embedding.
type EmbeddingStatus struct {
	Model       string `json:"model"`
	Dims        int    `json:"dims"`
	Embedded    int    `json:"embedded"`
	Pending     int    `json:"pending"`
	Error       string `json:"error,omitempty"`        // the last failure, while backing off
	Next        string `json:"next,omitempty"`         // a new model being built in the background
	NextPending int    `json:"next_pending,omitempty"` // chunks it still lacks
}

// Memory describes a node's memory use.
type Memory struct {
	HeapBytes  uint64 `json:"heap_bytes"`  // live Go heap
	SysBytes   uint64 `json:"sys_bytes"`   // memory the Go runtime holds from the OS
	LimitBytes int64  `json:"limit_bytes"` // soft limit (GOMEMLIMIT); 0 when none
}

// RecentQuery is one query in a node's recent history, for status pages.
type RecentQuery struct {
	At         time.Time `json:"at"`
	Question   string    `json:"question"` // cut to 120 bytes
	Route      string    `json:"route"`
	Mode       string    `json:"mode"`
	Confidence float64   `json:"confidence"`
	Abstained  bool      `json:"abstained"`
	Degraded   bool      `json:"degraded"`
	TotalMS    float64   `json:"total_ms"`
}

// Service is what the handler serves; a node implements it.
type Service interface {
	Ingest(ctx context.Context, docs []Document) (IngestResponse, error)
	Delete(ctx context.Context, shardName, id string) (DeleteResponse, error)
	Query(ctx context.Context, req QueryRequest) (QueryResponse, error)
	Status(ctx context.Context) (Status, error)
	Ready() bool
}

// Error is the error body of every failed request:
// {"error":{"code":"...","message":"..."}}. Services return it to choose the
// HTTP status and code; any other error is a 500.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, when set, goes out as the Retry-After header (whole
	// seconds, at least 1): when a refused request is worth sending again.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the status and code.
func Errorf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Codes used across the API.
const (
	CodeBadRequest  = "bad_request"
	CodeTooLarge    = "too_large"
	CodeNotFound    = "not_found"
	CodeUnsupported = "unsupported_media_type"
	CodeNotReady    = "not_ready"
	CodeInternal    = "internal"
	CodeTimeout     = "timeout"
	// CodeOverloaded is a 429: the node is busy; retry after Retry-After.
	CodeOverloaded = "overloaded"
	// CodeStorageFull is a 507: the disk is full or read-only.
	CodeStorageFull = "storage_full"
	// CodeUnauthorized (401): no credential, or one the node does not
	// accept; CodeForbidden (403): a valid credential without the role.
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
)

// EarlyShedder is implemented by services that can tell, before a
// request's body is read, that it would be refused (429) anyway; client
// names where the request comes from (ClientOf), for fairness.
type EarlyShedder interface {
	ShedEarly(class, client string) error
}

// Admitter is implemented by services that bound how much work of each
// class runs at once. The handler asks it before reading an ingest body, so
// a refused request costs the node next to nothing.
type Admitter interface {
	// Admit returns a release func when the request may start, or an
	// *Error (429 or 503, with RetryAfter) at once when it may not.
	Admit(ctx context.Context, class string) (release func(), err error)
}

// Limits on requests. They are generous for real documents and questions and
// keep a misbehaving client from exhausting a small device.
const (
	MaxIngestBody   = 32 << 20 // one ingest request
	MaxDocumentBody = 1 << 20  // one document's body text
	MaxQueryBody    = 64 << 10
	MaxQuestion     = 2000 // bytes
	MaxK            = 50
	MaxBatch        = 10000 // documents per ingest request
	MaxTitle        = 1024
	MaxSource       = 2048
	MaxMetadata     = 64 // entries
	MaxMetaValue    = 1024
)

// kindStatus maps the kinds of the core's errors (node.ErrInvalid and the
// others, which name their kind through a Kind method) to the API's status
// and code. The core knows no HTTP; this table is where its failures get
// their status.
var kindStatus = map[string]struct {
	status int
	code   string
}{
	"invalid":        {http.StatusBadRequest, CodeBadRequest},
	"not_found":      {http.StatusNotFound, CodeNotFound},
	"shard_not_held": {http.StatusNotFound, CodeNotFound},
	"not_ready":      {http.StatusServiceUnavailable, CodeNotReady},
	"conflict":       {http.StatusConflict, CodeBadRequest},
	"too_large":      {http.StatusRequestEntityTooLarge, CodeTooLarge},
	"full":           {http.StatusInsufficientStorage, CodeTooLarge},
	"forbidden":      {http.StatusForbidden, CodeForbidden},
	"overloaded":     {http.StatusTooManyRequests, CodeOverloaded},
	"storage_full":   {http.StatusInsufficientStorage, CodeStorageFull},
	// The embedder is down: the code names what is unavailable.
	"model_unavailable": {http.StatusServiceUnavailable, "embedding_unavailable"},
}

// AsError returns err as an *Error: an *Error as it is, an error of the
// core's kinds with its status, context errors as a timeout, anything else
// as an internal error.
func AsError(err error) *Error {
	var e *Error
	var k interface{ Kind() string }
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &k) && kindStatus[k.Kind()].status != 0:
		s := kindStatus[k.Kind()]
		e := &Error{Status: s.status, Code: s.code, Message: err.Error()}
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			e.RetryAfter = ra.RetryAfter()
		}
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(http.StatusGatewayTimeout, CodeTimeout, "the request took longer than its deadline: %v", err)
	case errors.Is(err, context.Canceled):
		return Errorf(499, CodeTimeout, "the request was cancelled")
	default:
		return Errorf(http.StatusInternalServerError, CodeInternal, "internal error: %v", err)
	}
}
