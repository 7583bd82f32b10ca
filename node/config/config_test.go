package config

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// listValue is a repeatable flag, like a list of peers.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	if strings.Contains(s, " ") {
		return fmt.Errorf("%q has a space; write host:port", s)
	}
	*l = append(*l, s)
	return nil
}

// testFlags is a small command like 'edgerag serve'.
func testFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("data", "", "data directory")
	fs.String("http", "127.0.0.1:8080", "API address")
	fs.String("config", "", "this file")
	fs.Bool("no-sync", false, "skip fsync")
	fs.Int("num-ctx", 0, "context window")
	fs.Float64("temperature", 0, "sampling temperature")
	fs.Duration("query-timeout", 5*time.Second, "query budget")
	fs.String("gen-model", "", "generation model")
	fs.Uint("workers", 2, "workers")
	fs.Var(new(listValue), "join", "peers to join")
	return fs
}

var testTables = []Table{
	{Name: "models", Doc: "The model manifest.", Flags: []string{"gen-model", "num-ctx", "temperature"}},
	{Name: "fleet", Doc: "The fleet.", Flags: []string{"join", "query-timeout"}},
}

func testSchema(t testing.TB, fs *flag.FlagSet) Schema {
	t.Helper()
	s, err := NewSchema(fs, testTables, "config")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaFromFlags(t *testing.T) {
	s := testSchema(t, testFlags())
	want := map[string]struct {
		table string
		kind  Kind
	}{
		"data": {"", String}, "http": {"", String}, "no-sync": {"", Bool}, "workers": {"", Int},
		"gen-model": {"models", String}, "num-ctx": {"models", Int}, "temperature": {"models", Float},
		"join": {"fleet", List}, "query-timeout": {"fleet", Duration},
	}
	if len(s.Keys) != len(want) {
		t.Errorf("%d keys, want %d (every flag but --config)", len(s.Keys), len(want))
	}
	for _, k := range s.Keys {
		w, ok := want[k.Name]
		if !ok || w.table != k.Table || w.kind != k.Kind {
			t.Errorf("key %s: table %q kind %v; want %+v (known %v)", k.Name, k.Table, k.Kind, w, ok)
		}
	}
	if k, _ := s.Lookup("gen-model"); k.Env() != "EDGERAG_GEN_MODEL" {
		t.Errorf("env of gen-model: %s", k.Env())
	}
	if m := Missing(testFlags(), append(testTables, Table{Name: "x", Flags: []string{"no-such-flag"}})); len(m) != 1 || m[0] != "[x] no-such-flag" {
		t.Errorf("Missing = %v", m)
	}
	if s, err := NewSchema(testFlags(), []Table{{Name: "x", Flags: []string{"no-such-flag", "data"}}}); err != nil {
		t.Errorf("a table listing a flag the command lacks: %v; want it ignored", err)
	} else if k, _ := s.Lookup("data"); k.Table != "x" {
		t.Errorf("data in table %q, want x", k.Table)
	}
	for _, bad := range [][]Table{
		{{Name: "a", Flags: []string{"data"}}, {Name: "b", Flags: []string{"data"}}},
		{{Name: "Models"}},
		{{Name: "data"}},
	} {
		if _, err := NewSchema(testFlags(), bad); err == nil {
			t.Errorf("tables %+v: no error", bad)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // every error, in order, as "line N: ...fragment"
	}{
		{"unknown key", "data = \"/d\"\nhtpp = \"x\"\n", []string{`line 2: unknown key "htpp" at the top level`}},
		{"typo with a suggestion", "[models]\ngen_model = \"q\"\n", []string{`line 2: unknown key "gen_model" in [models] (did you mean "gen-model"?)`}},
		{"env name as a key", "EDGERAG_HTTP = \"x\"\n", []string{`line 1: unknown key "EDGERAG_HTTP" at the top level (environment variable names`}},
		{"wrong type: number for a string", "http = 8080\n", []string{`line 1: http: want a string (in quotes); got integer 8080`}},
		{"wrong type: string for a bool", "\n\nno-sync = \"yes\"\n", []string{`line 3: no-sync: want a boolean; got the string "yes"`}},
		{"wrong type: float for an int", "[models]\nnum-ctx = 2.5\n", []string{`line 2: num-ctx: want an integer; got float 2.5`}},
		{"wrong type: number for a duration", "[fleet]\nquery-timeout = 5\n", []string{`line 2: query-timeout: want a duration as a string, such as "5s"`}},
		{"wrong type: array of numbers", "[fleet]\njoin = [\"a:1\", 2]\n", []string{`line 2: join: want an array of strings; element 2 is integer 2`}},
		{"wrong table", "[fleet]\ngen-model = \"q\"\n", []string{`line 2: "gen-model" belongs in the [models] table`}},
		{"top-level key in a table", "[models]\ndata = \"/d\"\n", []string{`line 2: "data" is a top-level key: put it before the first [table]`}},
		{"unknown table", "[model]\ngen-model = \"q\"\n", []string{`line 1: unknown table [model]; the tables are [models], [fleet]`}},
		{"array of tables", "[[models]]\n", []string{`line 1: [[models]]: arrays of tables are not used`}},
		{"inline table", "models = { gen-model = \"q\" }\n", []string{`line 1: unknown key "models" at the top level`}},
		{"syntax error", "data = \"/d\"\nhttp = \n", []string{`line 2: not valid TOML`}},
		{"unterminated string", "\n\ndata = \"/d\n", []string{`line 3: not valid TOML`}},
		{"duplicate key", "data = \"/a\"\ndata = \"/b\"\n", []string{`line 2: not valid TOML`}},
		{"every error, in order", "htpp = 1\n[models]\nnum-ctx = \"big\"\ntemperature = true\n[fleet]\nquery-timeout = 3\nbogus = 1\n", []string{
			`line 1: unknown key "htpp"`, `line 3: num-ctx: want an integer`, `line 4: temperature: want a number`,
			`line 6: query-timeout: want a duration`, `line 7: unknown key "bogus" in [fleet]`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSchema(t, testFlags())
			settings, err := Parse("", []byte(tc.file), s)
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("got settings %+v, error %v (%T); want Errors", settings, err, err)
			}
			if len(es) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(es[i].Error(), w[:strings.Index(w, ":")+1]) || !strings.Contains(es[i].Error(), w[strings.Index(w, ":")+2:]) {
					t.Errorf("error %d = %q; want %q", i, es[i].Error(), w)
				}
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	file := `# a comment
data = '/var/lib/edgerag'   # literal string
http = "0.0.0.0:80\u0038"
no-sync = true
workers = 0x10
fleet.query-timeout = "1m30s"
fleet . join = ["10.0.0.1:7946", "10.0.0.2:7946"]

[models]
gen-model = "qwen2.5:0.5b"
num-ctx = 4_096
temperature = 0
`
	s := testSchema(t, testFlags())
	settings, err := Parse("f.toml", []byte(file), s)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	lines := map[string]int{}
	for _, st := range settings {
		got[st.Key], lines[st.Key] = st.Values, st.Line
	}
	want := map[string][]string{
		"data": {"/var/lib/edgerag"}, "http": {"0.0.0.0:808"}, "no-sync": {"true"}, "workers": {"16"},
		"gen-model": {"qwen2.5:0.5b"}, "num-ctx": {"4096"}, "temperature": {"0"},
		"join": {"10.0.0.1:7946", "10.0.0.2:7946"}, "query-timeout": {"1m30s"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values\n got %v\nwant %v", got, want)
	}
	if lines["data"] != 2 || lines["query-timeout"] != 6 || lines["join"] != 7 {
		t.Errorf("lines: data %d query-timeout %d join %d; want 2, 6 and 7", lines["data"], lines["query-timeout"], lines["join"])
	}
}

func TestApplyPrecedence(t *testing.T) {
	file := "http = \"file:1\"\ndata = \"/file\"\nno-sync = true\n[models]\nnum-ctx = 100\n[fleet]\nquery-timeout = \"7s\"\njoin = [\"f:1\", \"f:2\"]\n"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"defaults", nil, nil, nil},
		{"file over defaults", nil, nil, nil},
		{"env over file", nil, map[string]string{"EDGERAG_HTTP": "env:2", "EDGERAG_NUM_CTX": "200", "EDGERAG_JOIN": "e:1"},
			map[string]string{"http": "env:2", "num-ctx": "200", "join": "f:1,f:2,e:1"}},
		{"flag over env and file", []string{"--http", "flag:3", "--num-ctx=300"}, map[string]string{"EDGERAG_HTTP": "env:2", "EDGERAG_NUM_CTX": "200"},
			map[string]string{"http": "flag:3", "num-ctx": "300"}},
		{"empty env is unset", nil, map[string]string{"EDGERAG_HTTP": "", "EDGERAG_DATA": ""}, nil},
		{"a false flag beats a true file", []string{"--no-sync=false"}, nil, map[string]string{"no-sync": "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useFile := tc.name != "defaults"
			fs := testFlags()
			s := testSchema(t, fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			var settings []Setting
			if useFile {
				var err error
				if settings, err = Parse("f", []byte(file), s); err != nil {
					t.Fatal(err)
				}
			}
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if err := Apply(fs, s, settings, env, given); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"http": "127.0.0.1:8080", "data": "", "no-sync": "false", "num-ctx": "0", "query-timeout": "5s", "join": ""}
			if useFile {
				want = map[string]string{"http": "file:1", "data": "/file", "no-sync": "true", "num-ctx": "100", "query-timeout": "7s", "join": "f:1,f:2"}
			}
			for k, v := range tc.want {
				want[k] = v
			}
			for k, v := range want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestApplyBadValues(t *testing.T) {
	file := "workers = -1\n[models]\nnum-ctx = 99999999999999999999\n[fleet]\nquery-timeout = \"5 parsecs\"\njoin = [\"ok:1\", \"not ok\"]\n"
	fs := testFlags()
	s := testSchema(t, fs)
	settings, err := Parse("node.toml", []byte(file), s)
	if err != nil {
		// 99999999999999999999 overflows int64: TOML itself refuses it.
		if !strings.Contains(err.Error(), "node.toml:3:") {
			t.Fatalf("overflow: %v", err)
		}
		file = strings.Replace(file, "99999999999999999999", "1", 1)
		if settings, err = Parse("node.toml", []byte(file), s); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"EDGERAG_NUM_CTX": "lots"}
	err = Apply(fs, s, settings, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"node.toml:1: workers = -1: not a valid integer",
		"node.toml:5: query-timeout = 5 parsecs: not a duration",
		`node.toml:6: join = not ok: "not ok" has a space`,
		`environment variable EDGERAG_NUM_CTX="lots": not a valid integer`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
}

// TestDefaultRoundTrip: the default file is valid and sets nothing; with
// every line uncommented it sets every key to its default.
func TestDefaultRoundTrip(t *testing.T) {
	fs := testFlags()
	s := testSchema(t, fs)
	def := Default(s, "header\n\nline two")
	settings, err := Parse("default", def, s)
	if err != nil || len(settings) != 0 {
		t.Fatalf("default file: settings %v, err %v\n%s", settings, err, def)
	}
	var un []string
	for _, l := range strings.Split(string(def), "\n") {
		if strings.HasPrefix(l, "#") && strings.Contains(l, " = ") && !strings.HasPrefix(l, "# ") {
			l = l[1:]
		}
		un = append(un, l)
	}
	settings, err = Parse("uncommented", []byte(strings.Join(un, "\n")), s)
	if err != nil {
		t.Fatalf("uncommented default: %v", err)
	}
	if len(settings) != len(s.Keys) {
		t.Errorf("uncommented default sets %d keys, want all %d", len(settings), len(s.Keys))
	}
	if err := Apply(fs, s, settings, nil, nil); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Value.String() != f.DefValue {
			t.Errorf("%s = %q after the uncommented default, want %q", f.Name, f.Value, f.DefValue)
		}
	})
	md := string(Markdown(s, "# Keys"))
	for _, k := range s.Keys {
		if !strings.Contains(md, "| `"+k.Name+"` |") || !strings.Contains(md, k.Env()) {
			t.Errorf("markdown lacks %s", k.Name)
		}
	}
}

// FuzzParse feeds arbitrary files to the loader: it must not panic, and
// whatever it accepts names known keys at lines inside the file, and can
// be applied without panicking.
func FuzzParse(f *testing.F) {
	s := testSchema(f, testFlags())
	f.Add([]byte(Default(s, "x")))
	f.Add([]byte("data = '/d'\n[models]\nnum-ctx = 1_0\n[fleet]\njoin = ['a:1']\n"))
	f.Add([]byte("[[models]]\nx = {a=1}\n"))
	f.Add([]byte("a.b.c = 1\n\"quoted key\" = 2\n"))
	f.Add([]byte("no-sync = 1979-05-27T07:32:00Z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		settings, err := Parse("fuzz", data, s)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, st := range settings {
			if _, ok := s.Lookup(st.Key); !ok || st.Line < 1 || st.Line > lines {
				t.Fatalf("setting %+v: unknown key or line outside 1..%d", st, lines)
			}
		}
		_ = Apply(testFlags(), s, settings, nil, nil)
	})
}
