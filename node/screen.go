package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/auth"
	"github.com/edgerag/edgerag/node/route"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/trust"
)

// This file holds provenance and the injection screen on the ingest side:
// who may set which trust level, what is flagged when a document is stored,
// and the admin's view of flagged chunks. The rules themselves are
// node/trust's; the query side is in answertrust.go.

// Origins a document may declare on ingest.
const (
	originIngest  = "ingest"
	originCrawler = "crawler"
	originUpload  = "upload"
	originSync    = "sync"
)

// caller returns who is calling and whether they hold the admin role:
// Config.Caller when set, else the principal node/auth's guard put in the
// context. A context without one is an in-process caller (eval, tests,
// a node run without authentication), which may do anything.
func (n *Node) caller(ctx context.Context) (principal string, admin bool) {
	if n.cfg.Caller != nil {
		return n.cfg.Caller(ctx)
	}
	if p, ok := auth.FromContext(ctx); ok {
		return p.Name, p.Role.Allows(auth.RoleAdmin)
	}
	return "", true
}

func validateProvenance(d *api.Document) error {
	for k := range d.Metadata {
		if strings.HasPrefix(k, trust.ReservedPrefix) {
			return fmt.Errorf("metadata key %q: keys starting with %q are reserved", k, trust.ReservedPrefix)
		}
	}
	switch d.Origin {
	case "", originIngest, originCrawler, originUpload:
	default:
		return fmt.Errorf("origin %q: use ingest, crawler or upload", d.Origin)
	}
	if d.Trust != "" {
		if _, err := trust.ParseLevel(d.Trust); err != nil {
			return err
		}
	}
	return nil
}

// resolveTrust sets d.Trust to the level the document gets and d.Origin to
// its origin: crawled and uploaded text starts untrusted, ingested text
// local; a caller may lower that, and only an admin raise it.
func resolveTrust(d *api.Document, admin bool) error {
	if d.Origin == "" {
		d.Origin = originIngest
	}
	origin := trust.Local
	if d.Origin != originIngest {
		origin = trust.Untrusted
	}
	l, err := trust.Resolve(origin, d.Trust, admin)
	if err != nil {
		return err
	}
	d.Trust = l.String()
	return nil
}

// screenDoc marks a document's record screened, records document-level
// findings (hidden markup that carries instructions, a flagged title) and
// returns the hidden text its chunks are checked for.
func (n *Node) screenDoc(meta *shardstore.DocMeta, format, body string) []trust.Hidden {
	if n.cfg.DisableScreening {
		return nil
	}
	meta.Screened = true
	hidden := trust.DetectMarkup(body)
	for _, h := range hidden {
		if h.Instruction && !slices.Contains(meta.Flags, trust.FlagHidden) {
			meta.Flags = append(meta.Flags, trust.FlagHidden)
		}
	}
	// Chunking turns markdown images and links into their labels, so a
	// link built to carry data out never reaches a chunk to be flagged
	// there; the document says what it is all the same.
	if format != "" && format != "text" {
		for _, f := range trust.Detect(body) {
			if f.Flag == trust.FlagExfiltration && !slices.Contains(meta.Flags, f.Flag) {
				meta.Flags = append(meta.Flags, f.Flag)
			}
		}
	}
	for _, f := range trust.Names(trust.Detect(meta.Title)) {
		if !slices.Contains(meta.Flags, f) {
			meta.Flags = append(meta.Flags, f)
		}
	}
	slices.Sort(meta.Flags)
	return hidden
}

// screenSynced sets the provenance of a document fleet sync delivered:
// central signed the version it came in. It is screened all the same, so
// a poisoned document central let through is still withheld from answers,
// unless central's admin released it.
func (n *Node) screenSynced(meta *shardstore.DocMeta, released bool) {
	meta.Trust, meta.Origin, meta.Screened, meta.Released = trust.Central.String(), originSync, !n.cfg.DisableScreening, released
}

// syncedMetadata splits central's release marker off a delivered
// document's metadata.
func syncedMetadata(md map[string]string) (map[string]string, bool) {
	if _, ok := md[trust.ReleasedKey]; !ok {
		return md, false
	}
	out := maps.Clone(md)
	delete(out, trust.ReleasedKey)
	if len(out) == 0 {
		out = nil
	}
	return out, md[trust.ReleasedKey] == "true"
}

// screenChunk runs the detector on a chunk's normalised text and looks for
// the document's hidden text in it.
func screenChunk(text string, hidden []trust.Hidden) ([]string, [][2]int) {
	fs := trust.Detect(text)
	for _, h := range hidden {
		if f, ok := trust.Locate(text, h); ok {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return nil, nil
	}
	spans := make([][2]int, len(fs))
	for i, f := range fs {
		spans[i] = [2]int{f.Start, f.End}
	}
	return trust.Names(fs), spans
}

// flaggedSummary counts a document's flagged chunks (none once released)
// and lists every flag, the document's own included.
func flaggedSummary(m shardstore.DocMeta) (int, []string) {
	flags := slices.Clone(m.Flags)
	count := 0
	for _, c := range m.Chunks {
		if len(c.Flags) > 0 && !m.Released {
			count++
		}
		for _, f := range c.Flags {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
	}
	slices.Sort(flags)
	return count, flags
}

func (n *Node) countFlagged(preps []prepared) {
	for _, p := range preps {
		for _, c := range p.meta.Chunks {
			for _, f := range c.Flags {
				n.metrics.FlaggedChunks.WithLabelValues(f).Inc()
			}
		}
	}
}

// contradictionProbe is how many stored chunks a new chunk is compared
// with: the ones most like it, where a restated fact would be.
const contradictionProbe = 3

// screenContradictions flags new chunks that restate what a stored chunk of
// at least their trust says, with other figures or the opposite polarity:
// the PoisonedRAG pattern, a passage built to rank for a question and give
// another answer. Only chunks that state a figure or a negation are
// checked, so ordinary prose costs one regular expression; the searches
// run on every core, as they only read the index.
func (n *Node) screenContradictions(ctx context.Context, preps []prepared) error {
	if n.cfg.DisableScreening {
		return nil
	}
	type job struct{ doc, chunk int }
	var jobs []job
	for pi := range preps {
		for ci := range preps[pi].meta.Chunks {
			if !slices.Contains(preps[pi].meta.Chunks[ci].Flags, trust.FlagContradiction) {
				jobs = append(jobs, job{pi, ci})
			}
		}
	}
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers(), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := &preps[jobs[i].doc]
				claims := trust.Claims(p.texts[jobs[i].chunk], maxClaims)
				if claims == "" {
					continue
				}
				k, ok, err := n.contradicted(p.shard, p.meta.ID, trust.StoredLevel(p.meta.Trust), claims, p.texts[jobs[i].chunk])
				if errs[i] = err; ok {
					// Each job owns its chunk's record.
					cm := &p.meta.Chunks[jobs[i].chunk]
					cm.Flags = append(cm.Flags, trust.FlagContradiction)
					slices.Sort(cm.Flags)
					cm.Spans = append(cm.Spans, [2]int{k.SpanA.Start, k.SpanA.End})
				}
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// maxClaims bounds the claim sentences of a chunk searched with, which
// bounds what the screen costs per chunk.
const maxClaims = 3

// contradicted compares text with the stored chunks of other documents in
// the shard most like its claims that are at least as trusted and not
// flagged.
func (n *Node) contradicted(shardName, docID string, level trust.Level, claims, text string) (trust.Conflict, bool, error) {
	r, err := n.searchLexical(claims, shardName, contradictionProbe+1, nil)
	if errors.Is(err, ErrShardNotHeld) {
		return trust.Conflict{}, false, nil // a new shard: nothing to contradict
	}
	if err != nil {
		return trust.Conflict{}, false, err
	}
	var hits []Hit
	for _, h := range r.Hits {
		if h.DocID != docID && len(hits) < contradictionProbe {
			hits = append(hits, h)
		}
	}
	if len(hits) == 0 {
		return trust.Conflict{}, false, nil
	}
	ids := make([]shard.ChunkID, len(hits))
	for i, h := range hits {
		ids[i] = h.ChunkID
	}
	texts, err := n.store.Texts(ids)
	if err != nil {
		return trust.Conflict{}, false, err
	}
	for i, h := range hits {
		d, err := n.store.Doc(h.storeName(), h.DocID)
		if err != nil {
			return trust.Conflict{}, false, fmt.Errorf("screen for contradictions: %w", err)
		}
		if trust.StoredLevel(d.Trust) < level || h.Position >= len(d.Chunks) || (len(d.Chunks[h.Position].Flags) > 0 && !d.Released) {
			continue
		}
		// Between equals, a stored passage that asks the question it
		// answers is the likelier plant: the new one is not flagged for
		// disagreeing with it (the query shows the disagreement).
		if trust.StoredLevel(d.Trust) == level && trust.AsksQuestion(texts[i]) && !trust.AsksQuestion(text) {
			continue
		}
		if k, ok := n.checker.Contradicts(text, texts[i]); ok {
			return k, true, nil
		}
	}
	return trust.Conflict{}, false, nil
}

// storeName is the store shard a hit was read from.
func (h Hit) storeName() string {
	if h.store != "" {
		return h.store
	}
	return h.Shard
}

// Flagged lists every flagged chunk of every shard the node holds, for an
// admin to release or delete. It implements api.FlaggedService.
func (n *Node) Flagged(ctx context.Context) (api.FlaggedList, error) {
	if _, admin := n.caller(ctx); !admin {
		return api.FlaggedList{}, errNotAdmin("list flagged chunks")
	}
	out := api.FlaggedList{Chunks: []api.FlaggedChunk{}}
	n.mu.RLock()
	stores := make(map[string]string, len(n.shards))
	for name, s := range n.shards {
		s.mu.RLock() // a version switch replaces s.store under it
		stores[name] = s.storeName(name)
		s.mu.RUnlock()
	}
	n.mu.RUnlock()
	for _, name := range slicesSortedKeys(stores) {
		_, err := n.store.Snapshot(ctx, stores[name], func(d shardstore.DocSnapshot) error {
			for i, c := range d.Meta.Chunks {
				if len(c.Flags) == 0 {
					continue
				}
				text := d.Texts[i]
				if len(c.Spans) > 0 {
					sp := c.Spans[0]
					if sp[0] >= 0 && sp[1] <= len(text) && sp[0] < sp[1] {
						text = text[sp[0]:]
					}
				}
				out.Chunks = append(out.Chunks, api.FlaggedChunk{Shard: name, DocumentID: d.Meta.ID, ChunkID: c.ID, Position: c.Position,
					Trust: trust.StoredLevel(d.Meta.Trust).String(), Flags: c.Flags, Released: d.Meta.Released, Snippet: snippet(text, 240)})
			}
			return nil
		})
		if err != nil && !errors.Is(err, shardstore.ErrNotFound) {
			return api.FlaggedList{}, fmt.Errorf("list flagged chunks of shard %q: %w", name, err)
		}
	}
	return out, nil
}

// Release lets a document's flagged chunks answer like any other: an admin
// judged them harmless. The flags stay on record.
func (n *Node) Release(ctx context.Context, shardName, id string) (api.ReleaseResponse, error) {
	if _, admin := n.caller(ctx); !admin {
		return api.ReleaseResponse{}, errNotAdmin("release flagged chunks")
	}
	if shardName == "" {
		shardName = shard.DefaultName
	}
	if err := shard.ValidName(shardName); err != nil {
		return api.ReleaseResponse{}, errorf(ErrInvalid, "%v", err)
	}
	if err := shard.ValidID(id); err != nil {
		return api.ReleaseResponse{}, errorf(ErrInvalid, "%v", err)
	}
	if n.syncManaged(shardName) {
		return api.ReleaseResponse{}, errSyncManaged(shardName)
	}
	meta, vecs, err := n.store.DocRecord(shardName, id)
	if errors.Is(err, shardstore.ErrNotFound) {
		return api.ReleaseResponse{}, errorf(ErrNotFound, "no document %q in shard %q", id, shardName)
	}
	if err != nil {
		return api.ReleaseResponse{}, err
	}
	count, _ := flaggedSummary(meta)
	ids := make([]shard.ChunkID, len(vecs))
	chunks := make([]preparedChunk, len(vecs))
	for i, v := range vecs {
		ids[i], chunks[i] = v.ID, preparedChunk{id: v.ID}
	}
	texts, err := n.store.Texts(ids)
	if err != nil {
		return api.ReleaseResponse{}, err
	}
	meta.Released = true
	p := prepared{shard: shardName, meta: meta, texts: texts, chunks: chunks, vectors: vecs, size: 4096}
	for _, t := range texts {
		p.size += len(t) + 64
	}
	_, version, err := n.write(ctx, shardName, []prepared{p})
	if err != nil {
		return api.ReleaseResponse{}, err
	}
	n.log.InfoContext(ctx, "released flagged chunks", "shard", shardName, "doc", id, "chunks", count)
	return api.ReleaseResponse{Shard: shardName, DocumentID: id, Released: count, ShardVersion: version}, nil
}

// DeleteFlagged deletes a document an admin judged hostile.
func (n *Node) DeleteFlagged(ctx context.Context, shardName, id string) (api.DeleteResponse, error) {
	if _, admin := n.caller(ctx); !admin {
		return api.DeleteResponse{}, errNotAdmin("delete flagged documents")
	}
	return n.Delete(ctx, shardName, id)
}

func errNotAdmin(what string) error {
	return errorf(ErrForbidden, "only an admin may %s: use an admin token", what)
}

func slicesSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// outgoing returns the request as it may leave the node for a peer or
// central: personal data and named secrets redacted from the question
// (Config.Redactor). Each redaction is counted in /metrics and logged with
// the request id and recorded in the audit log with its counts, never the
// redacted values. Nothing is redacted when the decision keeps the
// question local.
func (n *Node) outgoing(ctx context.Context, req api.QueryRequest, d route.Decision) api.QueryRequest {
	if d.Action != route.Peer && !d.Central {
		return req
	}
	r := n.cfg.Redactor.Redact(req.Question)
	if r.Total() == 0 {
		return req
	}
	for name, c := range r.Counts {
		n.metrics.Redactions.WithLabelValues(name).Add(float64(c))
	}
	n.log.InfoContext(ctx, "redacted before escalation", "counts", r.Counts, "total", r.Total())
	parts := make([]string, 0, len(r.Counts))
	for _, name := range slices.Sorted(maps.Keys(r.Counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", name, r.Counts[name]))
	}
	p, _ := auth.FromContext(ctx)
	n.audit.Record(auth.Event{Kind: auth.EventEscalation, Principal: p.Name, Action: "redacted before escalation",
		Detail: strings.Join(parts, ", ")})
	req.Question = r.Text
	return req
}
