package evalset

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readAllDocs(in string) ([]Doc, error) {
	var docs []Doc
	err := ReadCorpus(strings.NewReader(in), func(d Doc) error {
		docs = append(docs, d)
		return nil
	})
	return docs, err
}

func TestReadCorpus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Doc
		wantErr string // substring; "" means success
	}{
		{
			name: "two docs, blank lines, CRLF, BOM and extra keys",
			in:   "\ufeff{\"id\": \"1\", \"title\": \"T\", \"text\": \"hello\", \"x\": 3}\r\n\n  \n{\"id\":\"2\",\"title\":\"\",\"text\":\"\"}",
			want: []Doc{{ID: "1", Title: "T", Text: "hello"}, {ID: "2"}},
		},
		{name: "empty input", in: "", want: nil},
		{name: "bad JSON names line", in: "{\"id\":\"1\",\"title\":\"\",\"text\":\"\"}\n{oops", wantErr: "line 2: bad JSON"},
		{name: "missing id", in: `{"title":"t","text":"x"}`, wantErr: `line 1: field "id" is missing`},
		{name: "blank id", in: `{"id":" ","title":"t","text":"x"}`, wantErr: `field "id" is empty`},
		{name: "numeric id", in: `{"id":7,"title":"t","text":"x"}`, wantErr: `field "id" must be a string, got 7`},
		{name: "missing text", in: `{"id":"1","title":"t"}`, wantErr: `field "text" is missing`},
		{name: "null title", in: `{"id":"1","title":null,"text":""}`, wantErr: `field "title" is missing`},
		{name: "keys are case-sensitive", in: `{"ID":"1","title":"","text":""}`, wantErr: `field "id" is missing`},
		{name: "not an object", in: `["1"]`, wantErr: "line 1: bad JSON"},
		{name: "null line", in: `null`, wantErr: "line 1: want a JSON object"},
		{name: "trailing garbage", in: `{"id":"1","title":"","text":""} x`, wantErr: "line 1: bad JSON"},
		{
			name:    "duplicate id names both lines",
			in:      "{\"id\":\"a\",\"title\":\"\",\"text\":\"\"}\n\n{\"id\":\"a\",\"title\":\"\",\"text\":\"\"}",
			wantErr: `line 3: duplicate doc id "a" (first on line 1)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllDocs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("docs = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadCorpusCallbackErrorStopsAndKeepsIdentity(t *testing.T) {
	stop := errors.New("enough")
	calls := 0
	in := "{\"id\":\"1\",\"title\":\"\",\"text\":\"\"}\n{\"id\":\"2\",\"title\":\"\",\"text\":\"\"}\n"
	err := ReadCorpus(strings.NewReader(in), func(Doc) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want the callback's error after 1 call", err, calls)
	}
	if !strings.Contains(err.Error(), `line 1 (doc "1")`) {
		t.Errorf("err = %v, want it to say which line and doc", err)
	}
}

func TestReadCorpusLongLines(t *testing.T) {
	// Longer than bufio's buffer but within the limit: must read whole.
	text := strings.Repeat("x", 200<<10)
	docs, err := readAllDocs(`{"id":"1","title":"","text":"` + text + `"}`)
	if err != nil || len(docs) != 1 || docs[0].Text != text {
		t.Fatalf("long line: err = %v, got %d docs", err, len(docs))
	}
	_, err = readAllDocs(strings.Repeat("y", MaxLineBytes+1))
	if err == nil || !strings.Contains(err.Error(), "line 1: longer than") {
		t.Fatalf("over-long line: err = %v, want a line-length error", err)
	}
}

func TestReadQueries(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Query
		wantErr string
	}{
		{
			name: "retrieval and QA queries",
			in: `{"id":"1","text":"what is lift","orig_id":"001"}
{"id":"q2","text":"Who won?","answers":["Denver","Denver Broncos"],"context_id":"s-1","is_impossible":false}
{"id":"q3","text":"Who lost?","answers":[],"context_id":"s-1","is_impossible":true}`,
			want: []Query{
				{ID: "1", Text: "what is lift"},
				{ID: "q2", Text: "Who won?", Answers: []string{"Denver", "Denver Broncos"}, ContextID: "s-1"},
				{ID: "q3", Text: "Who lost?", Answers: []string{}, ContextID: "s-1", Impossible: true},
			},
		},
		{name: "empty text", in: `{"id":"1","text":""}`, wantErr: `line 1: field "text" is empty`},
		{name: "answers not a list", in: `{"id":"1","text":"q","answers":"x"}`, wantErr: `"answers" must be a list of strings`},
		{name: "answers null", in: `{"id":"1","text":"q","answers":null}`, wantErr: `"answers" must be a list of strings`},
		{name: "blank answer", in: `{"id":"1","text":"q","answers":["ok"," "]}`, wantErr: "answers[1] is empty"},
		{name: "no answers yet possible", in: `{"id":"1","text":"q","answers":[]}`, wantErr: `not marked "is_impossible"`},
		{name: "is_impossible not bool", in: `{"id":"1","text":"q","is_impossible":"yes"}`, wantErr: `"is_impossible" must be true or false`},
		{name: "context_id not string", in: `{"id":"1","text":"q","context_id":5}`, wantErr: `"context_id" must be a string`},
		{name: "duplicate id", in: "{\"id\":\"1\",\"text\":\"q\"}\n{\"id\":\"1\",\"text\":\"r\"}", wantErr: `line 2: duplicate query id "1" (first on line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadQueries(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("queries = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadQrels(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Qrels
		wantErr string
	}{
		{
			name: "graded, negative and CRLF",
			in:   "1\t184\t3\r\n1\t29\t-1\n\n2\td 7\t 0 \n",
			want: Qrels{"1": {"184": 3, "29": -1}, "2": {"d 7": 0}},
		},
		{name: "two fields", in: "1\t184\n", wantErr: "line 1: want 3 tab-separated fields"},
		{name: "space separated", in: "1 184 3\n", wantErr: "line 1: want 3 tab-separated fields (qid, docid, relevance), got 1"},
		{name: "float grade", in: "1\t2\t1\n1\t3\t0.5\n", wantErr: `line 2: relevance "0.5" is not an integer`},
		{name: "empty doc id", in: "1\t\t1\n", wantErr: "line 1: empty query or doc id"},
		{name: "duplicate pair", in: "1\t2\t1\n1\t2\t2\n", wantErr: "line 2: duplicate judgment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadQrels(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("qrels = %v, want %v", got, tt.want)
			}
			if rel := got.Relevant("1"); !reflect.DeepEqual(rel, map[string]int{"184": 3}) {
				t.Errorf("Relevant(1) = %v, want only the positive grade", rel)
			}
		})
	}
}

func writeDataset(t *testing.T, corpus, queries, qrels string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{CorpusFile: corpus, QueriesFile: queries, QrelsFile: qrels} {
		if body == "-" {
			continue // leave the file out
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOpen(t *testing.T) {
	const corpus = "{\"id\":\"d1\",\"title\":\"\",\"text\":\"a\"}\n{\"id\":\"d2\",\"title\":\"\",\"text\":\"b\"}\n"
	const queries = "{\"id\":\"q1\",\"text\":\"a?\"}\n"
	t.Run("ok", func(t *testing.T) {
		d, err := Open(writeDataset(t, corpus, queries, "q1\td1\t1\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Queries) != 1 || d.Qrels["q1"]["d1"] != 1 {
			t.Fatalf("dataset = %+v", d)
		}
		var ids []string
		if err := d.Corpus(func(doc Doc) error { ids = append(ids, doc.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids, []string{"d1", "d2"}) {
			t.Errorf("corpus ids = %v", ids)
		}
	})
	tests := []struct {
		name, corpus, queries, qrels, wantErr string
	}{
		{"no corpus", "-", queries, "", CorpusFile},
		{"no qrels", corpus, queries, "-", QrelsFile},
		{"bad queries names file and line", corpus, "{\"id\":\"q1\",\"text\":\"a?\"}\n{\n", "", QueriesFile + ": line 2: bad JSON"},
		{"bad qrels names file and line", corpus, queries, "q1\td1\tyes\n", QrelsFile + ": line 1: relevance"},
		{"qrels for unknown query", corpus, queries, "q9\td1\t1\n", `missing from queries.jsonl (e.g. "q9")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(writeDataset(t, tt.corpus, tt.queries, tt.qrels))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	t.Run("bad corpus names file and line", func(t *testing.T) {
		d, err := Open(writeDataset(t, corpus+"{\"id\":\"d3\"}\n", queries, ""))
		if err != nil {
			t.Fatal(err)
		}
		err = d.Corpus(func(Doc) error { return nil })
		if err == nil || !strings.Contains(err.Error(), CorpusFile+": line 3: field \"title\" is missing") {
			t.Fatalf("err = %v, want file and line", err)
		}
	})
}

func FuzzReadCorpus(f *testing.F) {
	f.Add("{\"id\":\"1\",\"title\":\"T\",\"text\":\"x\"}\n\n{\"id\":\"2\",\"title\":\"\",\"text\":\"\"}\r\n")
	f.Add("\ufeff{\"id\":\"1\"}")
	f.Add("{\"id\":\"1\",\"title\":null,\"text\":\"\\u00e9\"} ")
	f.Fuzz(func(t *testing.T, in string) {
		seen := map[string]bool{}
		err := ReadCorpus(strings.NewReader(in), func(d Doc) error {
			if strings.TrimSpace(d.ID) == "" || seen[d.ID] {
				t.Fatalf("accepted empty or repeated id %q", d.ID)
			}
			seen[d.ID] = true
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "line ") {
			t.Fatalf("error %q does not name a line", err)
		}
	})
}

func FuzzReadQueries(f *testing.F) {
	f.Add("{\"id\":\"1\",\"text\":\"q\",\"answers\":[\"a\"],\"context_id\":\"c\",\"is_impossible\":false}\n")
	f.Add("{\"id\":\"1\",\"text\":\"q\",\"answers\":[],\"is_impossible\":true}")
	f.Fuzz(func(t *testing.T, in string) {
		qs, err := ReadQueries(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		for _, q := range qs {
			if strings.TrimSpace(q.ID) == "" || strings.TrimSpace(q.Text) == "" {
				t.Fatalf("accepted query with empty id or text: %+v", q)
			}
			if q.Answers != nil && len(q.Answers) == 0 && !q.Impossible {
				t.Fatalf("accepted answerless possible query: %+v", q)
			}
		}
	})
}

func FuzzReadQrels(f *testing.F) {
	f.Add("1\t184\t3\n1\t29\t-1\r\n\n")
	f.Add("1\t2\t+1\n")
	f.Fuzz(func(t *testing.T, in string) {
		q, err := ReadQrels(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		for qid, docs := range q {
			for did := range docs {
				if qid == "" || did == "" || strings.ContainsAny(qid+did, "\t\n") {
					t.Fatalf("accepted bad ids %q %q", qid, did)
				}
			}
		}
	})
}
