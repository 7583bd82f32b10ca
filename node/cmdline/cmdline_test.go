package cmdline

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		json bool
		n    string
		pos  []string
	}{
		{[]string{"DIR", "--json"}, true, "", []string{"DIR"}},
		{[]string{"--n", "3", "DIR"}, false, "3", []string{"DIR"}},
		{[]string{"DIR", "--n=4", "X"}, false, "4", []string{"DIR", "X"}},
		{[]string{"DIR", "--", "--json"}, false, "", []string{"DIR", "--json"}},
		{[]string{"-", "--json"}, true, "", []string{"-"}},
	} {
		fs := NewFlags("t", "", io.Discard)
		j := fs.Bool("json", false, "")
		n := fs.String("n", "", "")
		if err := Parse(fs, tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if *j != tc.json || *n != tc.n || !slices.Equal(fs.Args(), tc.pos) {
			t.Errorf("%q: json %v n %q args %q; want %v %q %q", tc.args, *j, *n, fs.Args(), tc.json, tc.n, tc.pos)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"96MiB": 96 << 20, "1GiB": 1 << 30, "512": 512, "2KB": 2000, " 7 MiB": 7 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "lots", "1TiB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

func TestWantsHelp(t *testing.T) {
	for args, want := range map[string]bool{"a -h": true, "--help": true, "a -- -h": false, "a b": false, "-help x": true} {
		if got := WantsHelp(splitSpace(args)); got != want {
			t.Errorf("WantsHelp(%q) = %v", args, got)
		}
	}
}

func splitSpace(s string) []string { return strings.Fields(s) }
