// Package evalset reads evaluation datasets in the shared layout
// (corpus.jsonl, queries.jsonl, qrels.tsv) and scores retrieval runs and
// extractive answers the same way /work/shared/eval/score.py does, so numbers
// printed by `edgerag eval` can be compared with the reference scorer. It also
// writes TREC run files, computes latency percentiles and splits a dataset
// deterministically across a fleet of edge nodes.
//
// Reading dataset files is its only I/O. It imports nothing from the project;
// the eval command and tests import it, and serving code should not, because
// nothing here is needed to answer a question.
package evalset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names inside a dataset directory, fixed by the shared layout.
const (
	CorpusFile  = "corpus.jsonl"
	QueriesFile = "queries.jsonl"
	QrelsFile   = "qrels.tsv"
)

// MaxLineBytes bounds one line of a dataset file. The largest shared document
// is well under 1 MiB; the bound turns a file without newlines (a wrong file,
// or a truncated download) into a clear error instead of unbounded memory use.
const MaxLineBytes = 16 << 20

// Doc is one corpus document.
type Doc struct {
	ID, Title, Text string
}

// Query is one evaluation question. Answers is nil when the dataset has no
// gold answers for it (retrieval-only sets) and non-nil, possibly empty, when
// it does; that distinction decides whether QA scoring counts the query.
type Query struct {
	ID, Text   string
	Answers    []string
	ContextID  string // the document the question was written from, if known
	Impossible bool   // SQuAD 2.0: no answer exists in the context
}

// Qrels maps query id → doc id → relevance grade. Grades ≤ 0 mean judged not
// relevant.
type Qrels map[string]map[string]int

// Relevant returns the docs of query qid with a positive grade.
func (q Qrels) Relevant(qid string) map[string]int {
	out := make(map[string]int)
	for d, g := range q[qid] {
		if g > 0 {
			out[d] = g
		}
	}
	return out
}

// lineReader yields the non-blank lines of r with 1-based line numbers,
// without the trailing newline and carriage return.
type lineReader struct {
	r    *bufio.Reader
	n    int
	line []byte
	err  error
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next advances to the next non-blank line; it returns false at end of input
// or on error (see Err).
func (lr *lineReader) next() bool {
	for lr.err == nil {
		lr.line = lr.line[:0]
		for {
			chunk, err := lr.r.ReadSlice('\n')
			lr.line = append(lr.line, chunk...)
			if len(lr.line) > MaxLineBytes {
				lr.err = fmt.Errorf("line %d: longer than %d bytes; is this really a dataset file in the shared layout?", lr.n+1, MaxLineBytes)
				return false
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				lr.err = fmt.Errorf("line %d: %w", lr.n+1, err)
				return false
			}
			if err == io.EOF {
				lr.err = io.EOF
				if len(lr.line) == 0 {
					return false
				}
			}
			break
		}
		lr.n++
		if lr.n == 1 {
			// Editors on some systems prepend a byte-order mark; it is not data.
			lr.line = bytes.TrimPrefix(lr.line, []byte("\ufeff"))
		}
		lr.line = bytes.TrimRight(lr.line, "\r\n")
		if len(bytes.TrimSpace(lr.line)) > 0 {
			return true
		}
	}
	return false
}

// Err returns the first read error, or nil at a clean end of input.
func (lr *lineReader) Err() error {
	if lr.err == io.EOF {
		return nil
	}
	return lr.err
}

// jsonObject decodes one JSONL line into its raw fields. Fields are looked up
// by exact key afterwards, because encoding/json would otherwise also accept
// "ID" or "Text", which the reference scorer does not.
func jsonObject(line []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if obj == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	return obj, nil
}

// stringField returns obj[key] as a string; present reports whether the key
// was there and not null.
func stringField(obj map[string]json.RawMessage, key string) (s string, present bool, err error) {
	raw, ok := obj[key]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("field %q must be a string, got %s", key, abbrev(raw))
	}
	return s, true, nil
}

// requiredString is stringField for keys the layout requires; nonEmpty also
// rejects strings that are only whitespace.
func requiredString(obj map[string]json.RawMessage, key string, nonEmpty bool) (string, error) {
	s, present, err := stringField(obj, key)
	if err != nil {
		return "", err
	}
	if !present {
		return "", fmt.Errorf("field %q is missing", key)
	}
	if nonEmpty && strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("field %q is empty", key)
	}
	return s, nil
}

// abbrev shortens raw JSON for error messages.
func abbrev(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	return string(raw[:max]) + "…"
}

// ReadCorpus streams corpus.jsonl: one {"id","title","text"} object per line,
// blank lines ignored, other keys ignored. fn is called once per document in
// file order; an error from fn stops reading and is returned wrapped with the
// line number. Ids must be unique and non-empty; title and text must be
// present (they may be empty), as score.py's validator requires.
func ReadCorpus(r io.Reader, fn func(Doc) error) error {
	lr := newLineReader(r)
	seen := make(map[string]int)
	for lr.next() {
		d, err := parseDoc(lr.line)
		if err != nil {
			return fmt.Errorf("line %d: %w", lr.n, err)
		}
		if prev, dup := seen[d.ID]; dup {
			return fmt.Errorf("line %d: duplicate doc id %q (first on line %d); ids must be unique", lr.n, d.ID, prev)
		}
		seen[d.ID] = lr.n
		if err := fn(d); err != nil {
			return fmt.Errorf("line %d (doc %q): %w", lr.n, d.ID, err)
		}
	}
	return lr.Err()
}

func parseDoc(line []byte) (Doc, error) {
	obj, err := jsonObject(line)
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	if d.ID, err = requiredString(obj, "id", true); err != nil {
		return Doc{}, err
	}
	if d.Title, err = requiredString(obj, "title", false); err != nil {
		return Doc{}, err
	}
	if d.Text, err = requiredString(obj, "text", false); err != nil {
		return Doc{}, err
	}
	return d, nil
}

// ReadQueries reads queries.jsonl: {"id","text"} per line plus, for QA sets,
// "answers" (a list of non-empty strings), "context_id" and "is_impossible".
// Other keys are ignored. A query with an empty answers list must be marked
// is_impossible, as score.py's validator requires.
func ReadQueries(r io.Reader) ([]Query, error) {
	lr := newLineReader(r)
	seen := make(map[string]int)
	var out []Query
	for lr.next() {
		q, err := parseQuery(lr.line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lr.n, err)
		}
		if prev, dup := seen[q.ID]; dup {
			return nil, fmt.Errorf("line %d: duplicate query id %q (first on line %d); ids must be unique", lr.n, q.ID, prev)
		}
		seen[q.ID] = lr.n
		out = append(out, q)
	}
	if err := lr.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseQuery(line []byte) (Query, error) {
	obj, err := jsonObject(line)
	if err != nil {
		return Query{}, err
	}
	var q Query
	if q.ID, err = requiredString(obj, "id", true); err != nil {
		return Query{}, err
	}
	if q.Text, err = requiredString(obj, "text", true); err != nil {
		return Query{}, err
	}
	if q.ContextID, _, err = stringField(obj, "context_id"); err != nil {
		return Query{}, err
	}
	if raw, ok := obj["is_impossible"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &q.Impossible); err != nil {
			return Query{}, fmt.Errorf("field \"is_impossible\" must be true or false, got %s", abbrev(raw))
		}
	}
	if raw, ok := obj["answers"]; ok {
		var answers []string
		if err := json.Unmarshal(raw, &answers); err != nil || answers == nil {
			return Query{}, fmt.Errorf("field \"answers\" must be a list of strings, got %s", abbrev(raw))
		}
		for i, a := range answers {
			if strings.TrimSpace(a) == "" {
				return Query{}, fmt.Errorf("answers[%d] is empty; drop it, or use an empty list with \"is_impossible\": true", i)
			}
		}
		if len(answers) == 0 && !q.Impossible {
			return Query{}, errors.New("\"answers\" is empty but the query is not marked \"is_impossible\": true")
		}
		q.Answers = answers
	}
	return q, nil
}

// ReadQrels reads qrels.tsv: qid<TAB>docid<TAB>grade per line, blank lines
// ignored. Grades are integers; a (qid, docid) pair may appear only once.
func ReadQrels(r io.Reader) (Qrels, error) {
	lr := newLineReader(r)
	type pair struct{ q, d string }
	seen := make(map[pair]int)
	qrels := make(Qrels)
	for lr.next() {
		fields := strings.Split(string(lr.line), "\t")
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want 3 tab-separated fields (qid, docid, relevance), got %d", lr.n, len(fields))
		}
		qid, did := fields[0], fields[1]
		if qid == "" || did == "" {
			return nil, fmt.Errorf("line %d: empty query or doc id", lr.n)
		}
		grade, err := strconv.Atoi(strings.TrimSpace(fields[2]))
		if err != nil {
			return nil, fmt.Errorf("line %d: relevance %q is not an integer", lr.n, fields[2])
		}
		p := pair{qid, did}
		if prev, dup := seen[p]; dup {
			return nil, fmt.Errorf("line %d: duplicate judgment for query %q doc %q (first on line %d); keep one", lr.n, qid, did, prev)
		}
		seen[p] = lr.n
		if qrels[qid] == nil {
			qrels[qid] = make(map[string]int)
		}
		qrels[qid][did] = grade
	}
	if err := lr.Err(); err != nil {
		return nil, err
	}
	return qrels, nil
}

// Dataset is a dataset directory with its queries and judgments in memory.
// The corpus stays on disk and is streamed by Corpus, because it can be far
// larger than an edge device wants to hold.
type Dataset struct {
	Dir     string
	Queries []Query
	Qrels   Qrels
}

// Open reads dir's queries.jsonl and qrels.tsv and checks that corpus.jsonl
// exists. Every judged query id must appear in queries.jsonl: a mismatch
// usually means files from two datasets were mixed.
func Open(dir string) (*Dataset, error) {
	if _, err := os.Stat(filepath.Join(dir, CorpusFile)); err != nil {
		return nil, fmt.Errorf("dataset %s: %w (want %s, %s and %s in it)", dir, err, CorpusFile, QueriesFile, QrelsFile)
	}
	d := &Dataset{Dir: dir}
	if err := readFile(filepath.Join(dir, QueriesFile), func(r io.Reader) (err error) {
		d.Queries, err = ReadQueries(r)
		return err
	}); err != nil {
		return nil, err
	}
	if err := readFile(filepath.Join(dir, QrelsFile), func(r io.Reader) (err error) {
		d.Qrels, err = ReadQrels(r)
		return err
	}); err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(d.Queries))
	for _, q := range d.Queries {
		known[q.ID] = true
	}
	var unknown []string
	for qid := range d.Qrels {
		if !known[qid] {
			unknown = append(unknown, qid)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("dataset %s: %s judges %d query ids missing from %s (e.g. %q); are both files from the same dataset?",
			dir, QrelsFile, len(unknown), QueriesFile, minString(unknown))
	}
	return d, nil
}

// Corpus streams the dataset's corpus.jsonl to fn; see ReadCorpus.
func (d *Dataset) Corpus(fn func(Doc) error) error {
	return readFile(filepath.Join(d.Dir, CorpusFile), func(r io.Reader) error {
		return ReadCorpus(r, fn)
	})
}

// readFile opens path, hands it to parse and prefixes errors with the path so
// that, together with the parser's line number, they point at the bad input.
func readFile(path string, parse func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset file: %w", err)
	}
	defer f.Close()
	if err := parse(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// minString returns the smallest of ss, so error messages are deterministic.
func minString(ss []string) string {
	m := ss[0]
	for _, s := range ss[1:] {
		if s < m {
			m = s
		}
	}
	return m
}
