package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/chunk"
	"github.com/edgerag/edgerag/node/dense"
	"github.com/edgerag/edgerag/node/lexical"
	"github.com/edgerag/edgerag/node/shard"
	"github.com/edgerag/edgerag/node/shardstore"
	"github.com/edgerag/edgerag/node/trust"
)

// txnBudget is the estimated size of one store transaction. Badger caps a
// transaction at 15% of a memtable (1.8 MB here); staying well under it
// means a batch rarely has to be split after the fact.
const txnBudget = 1 << 20

// prepared is a document parsed, chunked and analysed, ready to store.
type prepared struct {
	shard  string
	meta   shardstore.DocMeta
	texts  []string
	chunks []preparedChunk
	size   int // estimated bytes it adds to a transaction
	// vectors, when set, are term vectors copied from a stored version of
	// the same document (fleet sync's unchanged documents); chunks is then
	// empty and nothing is analysed or assigned.
	vectors []lexical.Chunk
}

type preparedChunk struct {
	id     shard.ChunkID
	length uint32
	terms  []string // distinct terms
	tfs    []uint32 // their counts
}

// Ingest implements api.Service: it validates every document first, so a
// batch with one bad document stores nothing, then stores them durably. Each
// document is replaced atomically; a batch too large for one transaction is
// stored in several, each whole.
func (n *Node) Ingest(ctx context.Context, docs []api.Document) (api.IngestResponse, error) {
	if !n.Ready() {
		return api.IngestResponse{}, errorf(ErrNotReady, "the node is still loading its index")
	}
	docs, principal, err := n.checkDocs(ctx, docs)
	if err != nil {
		return api.IngestResponse{}, err
	}
	preps, err := n.prepare(ctx, docs)
	if err != nil {
		return api.IngestResponse{}, err
	}
	for i := range preps {
		preps[i].meta.Principal = principal
	}
	if err := n.screenContradictions(ctx, preps); err != nil {
		return api.IngestResponse{}, err
	}
	resp := api.IngestResponse{ShardVersions: make(map[string]uint64)}
	// Once writing starts it finishes, even if the client hangs up: a
	// client that timed out must find either none of its batch or all of
	// it when it retries (same ids replace, so the retry is idempotent),
	// never the first transactions only.
	ctx = context.WithoutCancel(ctx)
	// Write in request order, cutting a transaction when the shard changes
	// or the budget is spent.
	for start := 0; start < len(preps); {
		end, size := start, 0
		for end < len(preps) && preps[end].shard == preps[start].shard && (end == start || size+preps[end].size <= txnBudget) {
			size += preps[end].size
			end++
		}
		out, version, err := n.write(ctx, preps[start].shard, preps[start:end])
		if err != nil {
			return api.IngestResponse{}, storageErr(err)
		}
		resp.Documents = append(resp.Documents, out...)
		resp.ShardVersions[preps[start].shard] = version
		n.metrics.IngestedDocuments.Add(float64(len(out)))
		for _, d := range out {
			n.metrics.IngestedChunks.Add(float64(d.Chunks))
		}
		n.countFlagged(preps[start:end])
		start = end
	}
	return resp, nil
}

// checkDocs validates a batch with the caller's rights and returns it
// with defaults filled in (a copy: the caller's documents stay as sent),
// and the caller. A batch with one bad document is refused whole.
func (n *Node) checkDocs(ctx context.Context, docs []api.Document) ([]api.Document, string, error) {
	docs = slices.Clone(docs) // docGroups rewrites metadata; the caller's documents stay as sent
	seen := make(map[[2]string]int, len(docs))
	principal, admin := n.caller(ctx)
	for i := range docs {
		err := validateDoc(&docs[i])
		if err == nil {
			err = docGroups(ctx, &docs[i])
		}
		var ae *api.Error
		if errors.As(err, &ae) {
			return nil, "", api.Errorf(ae.Status, ae.Code, "documents[%d] (id %q): %s", i, docs[i].ID, ae.Message)
		}
		if err != nil {
			return nil, "", errorf(kindOr(err, ErrInvalid), "documents[%d] (id %q): %v", i, docs[i].ID, err)
		}
		if err := resolveTrust(&docs[i], admin); err != nil {
			return nil, "", errorf(ErrForbidden, "documents[%d] (id %q): %v", i, docs[i].ID, err)
		}
		if n.syncManaged(docs[i].Shard) {
			return nil, "", errSyncManaged(docs[i].Shard)
		}
		key := [2]string{docs[i].Shard, docs[i].ID}
		if j, dup := seen[key]; dup {
			return nil, "", errorf(ErrInvalid, "documents[%d] and documents[%d] both have id %q in shard %q: send each document once", j, i, docs[i].ID, docs[i].Shard)
		}
		seen[key] = i
	}
	return docs, principal, nil
}

// validateDoc checks a document and fills in defaults.
func validateDoc(d *api.Document) error {
	if d.Shard == "" {
		d.Shard = shard.DefaultName
	}
	if err := shard.ValidName(d.Shard); err != nil {
		return err
	}
	if err := shard.ValidID(d.ID); err != nil {
		return err
	}
	if _, err := chunk.ParseFormat(d.Format); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(d.Body) == "":
		return errors.New(`"body" is empty: send the document's text`)
	case len(d.Body) > api.MaxDocumentBody:
		return fmt.Errorf("body is %d bytes; at most %d per document: split it into several documents", len(d.Body), api.MaxDocumentBody)
	case len(d.Title) > api.MaxTitle:
		return fmt.Errorf("title is %d bytes; at most %d", len(d.Title), api.MaxTitle)
	case len(d.Source) > api.MaxSource:
		return fmt.Errorf("source is %d bytes; at most %d", len(d.Source), api.MaxSource)
	case len(d.Metadata) > api.MaxMetadata:
		return fmt.Errorf("%d metadata entries; at most %d", len(d.Metadata), api.MaxMetadata)
	case !utf8.ValidString(d.Body) || !utf8.ValidString(d.Title) || !utf8.ValidString(d.Source):
		return errors.New("text is not valid UTF-8")
	}
	if err := validateProvenance(d); err != nil {
		return err
	}
	for k, v := range d.Metadata {
		if k == "" || len(k) > 128 || len(v) > api.MaxMetaValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("metadata %q: keys must be 1–128 bytes and values at most %d bytes of UTF-8", k, api.MaxMetaValue)
		}
	}
	return nil
}

// prepare parses, chunks and analyses documents on every core.
func (n *Node) prepare(ctx context.Context, docs []api.Document) ([]prepared, error) {
	preps := make([]prepared, len(docs))
	errs := make([]error, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers(), len(docs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []string
			for i := range next {
				preps[i], scratch, errs[i] = n.prepareOne(&docs[i], scratch)
			}
		}()
	}
	for i := range docs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, errorf(ErrInvalid, "documents[%d] (id %q): %v", i, docs[i].ID, err)
		}
	}
	return preps, nil
}

func (n *Node) prepareOne(d *api.Document, scratch []string) (prepared, []string, error) {
	format, _ := chunk.ParseFormat(d.Format)
	title := d.Title
	if title == "" && format == chunk.FormatHTML {
		title = chunk.Title(d.Body)
	}
	pieces, err := chunk.Chunk(format, d.Body, n.cfg.Chunking)
	if err != nil {
		return prepared{}, scratch, err
	}
	if len(pieces) == 0 {
		return prepared{}, scratch, errors.New("no text left after parsing the body")
	}
	p := prepared{
		shard: d.Shard,
		meta: shardstore.DocMeta{
			ID: d.ID, Title: title, Source: d.Source, Metadata: d.Metadata,
			IngestedAt: n.cfg.Now().UTC(), Trust: d.Trust, Origin: d.Origin,
		},
	}
	hidden := n.screenDoc(&p.meta, d.Format, d.Body)
	// The title (and the heading path) is indexed with every chunk, as the
	// reference runs index "title + text": a chunk deep in a document is
	// still about what the document is about.
	titleTerms := n.analyzer.Terms(title)
	for i, pc := range pieces {
		scratch = n.addChunk(&p, titleTerms, i, pc.Heading, pc.Text, scratch, hidden)
	}
	p.size += len(title) + len(d.Source) + 256
	return p, scratch, nil
}

// addChunk normalises a chunk's text, analyses it with titleTerms and its
// heading into term frequencies, screens it (when p's document is screened,
// with the document's hidden text) and appends it to p at position.
// scratch is reused between chunks and returned for the next call.
func (n *Node) addChunk(p *prepared, titleTerms []string, position int, heading, rawText string, scratch []string, hidden []trust.Hidden) []string {
	text := shard.Normalize(rawText)
	scratch = append(scratch[:0], titleTerms...)
	scratch = n.analyzer.AppendTerms(scratch, heading)
	scratch = n.analyzer.AppendTerms(scratch, text)
	c := preparedChunk{id: shard.HashText(text), length: uint32(len(scratch))}
	slices.Sort(scratch)
	for j := 0; j < len(scratch); {
		k := j
		for k < len(scratch) && scratch[k] == scratch[j] {
			k++
		}
		c.terms = append(c.terms, scratch[j])
		c.tfs = append(c.tfs, uint32(k-j))
		j = k
	}
	cm := shardstore.ChunkMeta{ID: c.id.String(), Position: position, Heading: heading, Tokens: chunk.CountTokens(text)}
	if p.meta.Screened {
		cm.Flags, cm.Spans = screenChunk(text, hidden)
	}
	p.meta.Chunks = append(p.meta.Chunks, cm)
	p.texts = append(p.texts, text)
	p.chunks = append(p.chunks, c)
	p.size += len(text) + 4*len(c.terms) + 64
	return scratch
}

// write stores one transaction's worth of documents of one shard and
// updates the index. A transaction Badger finds too large is split in two.
func (n *Node) write(ctx context.Context, shardName string, preps []prepared) ([]api.IngestedDocument, uint64, error) {
	out, version, err := n.writeTxn(ctx, shardName, preps)
	if errors.Is(err, shardstore.ErrTooLarge) && len(preps) > 1 {
		half := len(preps) / 2
		a, _, err := n.write(ctx, shardName, preps[:half])
		if err != nil {
			return nil, 0, err
		}
		b, version, err := n.write(ctx, shardName, preps[half:])
		return append(a, b...), version, err
	}
	if errors.Is(err, shardstore.ErrTooLarge) {
		return nil, 0, errorf(ErrTooLarge, "document %q is too large to store at once: split it into several documents", preps[0].meta.ID)
	}
	return out, version, err
}

func (n *Node) writeTxn(ctx context.Context, shardName string, preps []prepared) ([]api.IngestedDocument, uint64, error) {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()

	s := n.shardState(shardName)
	s.mu.RLock()
	slots := s.ix.Live() + s.ix.Dead()
	s.mu.RUnlock()

	w := shardstore.Write{Shard: shardName, Now: n.cfg.Now().UTC()}
	vectors, fresh := n.assignTerms(&w, preps)
	for _, p := range preps {
		slots += len(p.chunks)
	}
	if slots > lexical.MaxSlots {
		n.dict.Forget(fresh)
		return nil, 0, errorf(ErrFull, "shard %q would exceed %d chunks: put new documents in another shard", shardName, lexical.MaxSlots)
	}
	w.NewTerms = n.newTerms(fresh)
	res, err := n.store.Apply(ctx, w)
	if err != nil {
		n.dict.Forget(fresh)
		return nil, 0, err
	}
	out := make([]api.IngestedDocument, len(preps))
	var gone []uint32
	var fresh2 []dense.Chunk
	s.mu.Lock()
	for id, old := range res.Removed {
		gone = append(gone, s.ix.Remove(id, old)...)
	}
	for i, p := range preps {
		if err := s.ix.Add(p.meta.ID, vectors[i]); err != nil {
			// Cannot happen after the capacity check; the store has the
			// document, so a restart indexes it.
			n.log.Error("index add after commit", "shard", shardName, "doc", p.meta.ID, "err", err)
		}
		if n.dense != nil {
			for j, slot := range s.ix.DocSlots(p.meta.ID) {
				fresh2 = append(fresh2, dense.Chunk{Shard: shardName, Slot: slot, ID: p.chunks[j].id, Text: p.texts[j]})
			}
		}
		_, replaced := res.Removed[p.meta.ID]
		out[i] = api.IngestedDocument{ID: p.meta.ID, Shard: shardName, Chunks: len(p.chunks), Replaced: replaced}
		out[i].Trust = trust.StoredLevel(p.meta.Trust).String()
		out[i].Flagged, out[i].Flags = flaggedSummary(p.meta)
	}
	s.meta.Version, s.meta.UpdatedAt = res.Version, w.Now
	needRebuild := s.ix.Dead() > 4096 && s.ix.Dead() > s.ix.Live()
	s.mu.Unlock()
	if n.dense != nil {
		n.dense.Remove(shardName, gone...)
		n.dense.Enqueue(fresh2...)
	}
	if needRebuild {
		n.rebuild(ctx, shardName, s)
	}
	return out, res.Version, nil
}

// assignTerms gives the terms of every prepared chunk their dictionary ids
// and sets w.Puts to the documents with their term vectors, which it also
// returns. fresh are the terms new to the dictionary, for the store and, if
// the write fails, for Forget. The caller holds writeMu.
func (n *Node) assignTerms(w *shardstore.Write, preps []prepared) (vectors [][]lexical.Chunk, fresh []string) {
	var ids []uint32
	w.Puts = make([]shardstore.DocWrite, len(preps))
	vectors = make([][]lexical.Chunk, len(preps))
	for i, p := range preps {
		if p.vectors != nil {
			vectors[i] = p.vectors
			w.Puts[i] = shardstore.DocWrite{Meta: p.meta, Texts: p.texts, Vectors: p.vectors}
			continue
		}
		vs := make([]lexical.Chunk, len(p.chunks))
		for j, c := range p.chunks {
			ids, fresh = n.dict.Assign(c.terms, ids[:0], fresh)
			tf := make([]lexical.TermFreq, len(ids))
			for k, id := range ids {
				tf[k] = lexical.TermFreq{Term: id, TF: c.tfs[k]}
			}
			vs[j] = lexical.Chunk{ID: c.id, Position: j, Length: c.length, Terms: tf}
		}
		vectors[i] = vs
		w.Puts[i] = shardstore.DocWrite{Meta: p.meta, Texts: p.texts, Vectors: vs}
	}
	return vectors, fresh
}

// newTerms lists fresh terms with the ids the dictionary gave them, for the
// store to persist. Dictionary ids of fresh terms are length-based, so they
// are recovered in order.
func (n *Node) newTerms(fresh []string) []shardstore.Term {
	var out []shardstore.Term
	for _, t := range fresh {
		id, _ := n.dict.Lookup(t)
		out = append(out, shardstore.Term{Term: t, ID: id})
	}
	return out
}

// shardState returns the state of a shard, creating it empty if needed.
func (n *Node) shardState(name string) *shardState {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.shards[name]
	if !ok {
		s = &shardState{ix: n.newIndex(), meta: shardstore.ShardMeta{Name: name}}
		n.shards[name] = s
	}
	return s
}

// rebuild replaces a shard's index with one built from the store, dropping
// the postings of removed chunks. The caller holds writeMu, so the store
// cannot change underneath.
func (n *Node) rebuild(ctx context.Context, name string, s *shardState) {
	ix := n.newIndex()
	err := n.store.Vectors(ctx, name, func(doc string, chunks []lexical.Chunk) error { return ix.Add(doc, chunks) })
	if err != nil {
		n.log.Warn("rebuild index", "shard", name, "err", err)
		return
	}
	ix.Compact()
	s.mu.Lock()
	s.ix = ix
	s.mu.Unlock()
	if n.dense != nil {
		// Slots were renumbered; the dense side follows by chunk id.
		n.dense.ReplaceShard(name, n.liveChunks(name))
	}
}

// Delete implements api.Service.
func (n *Node) Delete(ctx context.Context, shardName, id string) (api.DeleteResponse, error) {
	if shardName == "" {
		shardName = shard.DefaultName
	}
	if err := shard.ValidName(shardName); err != nil {
		return api.DeleteResponse{}, errorf(ErrInvalid, "%v", err)
	}
	if err := shard.ValidID(id); err != nil {
		return api.DeleteResponse{}, errorf(ErrInvalid, "%v", err)
	}
	if n.syncManaged(shardName) {
		return api.DeleteResponse{}, errSyncManaged(shardName)
	}
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	n.mu.RLock()
	s, ok := n.shards[shardName]
	n.mu.RUnlock()
	if ok {
		s.mu.RLock()
		ok = s.ix.HasDoc(id)
		s.mu.RUnlock()
	}
	if !ok {
		return api.DeleteResponse{}, errorf(ErrNotFound, "no document %q in shard %q", id, shardName)
	}
	now := n.cfg.Now().UTC()
	res, err := n.store.Apply(ctx, shardstore.Write{Shard: shardName, Deletes: []string{id}, Now: now})
	if err != nil {
		return api.DeleteResponse{}, storageErr(err)
	}
	var gone []uint32
	s.mu.Lock()
	for doc, old := range res.Removed {
		gone = append(gone, s.ix.Remove(doc, old)...)
	}
	s.meta.Version, s.meta.UpdatedAt = res.Version, now
	s.mu.Unlock()
	if n.dense != nil {
		n.dense.Remove(shardName, gone...)
	}
	return api.DeleteResponse{ID: id, Shard: shardName, ShardVersion: res.Version}, nil
}
