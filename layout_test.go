package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The rules of the code's layout, as tests: what a package may import, and
// that each says what it is for. README's "How the code is laid out"
// explains them.

const module = "github.com/edgerag/edgerag"

// listedPackage is what 'go list -json' says of one package.
type listedPackage struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// listPackages lists every package of the module with its direct imports
// and its dependencies, test files excluded.
func listPackages(t *testing.T) map[string]listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Dir,Name,GoFiles,Imports,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

// pureCore does no I/O: ranking, confidence, routing policy, manifests,
// rollouts, the wire codec, detection rules. Neither it nor any package of
// the module it depends on may import these.
var (
	pureCore = []string{"node/route", "models/confidence", "node/fusion", "sync/manifest", "sync/rollout",
		"sync/wire", "sync/assign", "sync/probes", "node/shard", "node/analysis", "node/chunk", "node/vector", "node/trust"}
	ioImports = []string{"os", "os/exec", "syscall", "net", "net/http", "github.com/dgraph-io/badger",
		"github.com/hashicorp/serf", "github.com/hashicorp/memberlist", "github.com/quic-go/quic-go"}
)

// isIO matches standard packages exactly (net/url parses, it does no I/O)
// and modules with everything under them.
func isIO(imp string) bool {
	return slices.ContainsFunc(ioImports, func(bad string) bool {
		return imp == bad || (strings.Contains(bad, ".") && strings.HasPrefix(imp, bad+"/"))
	})
}

// TestPureCoreDoesNoIO: the pure core imports no file system, network,
// store, gossip or transport, directly or through another package of the
// module.
func TestPureCoreDoesNoIO(t *testing.T) {
	pkgs := listPackages(t)
	for _, rel := range pureCore {
		p, ok := pkgs[module+"/"+rel]
		if !ok {
			t.Errorf("pure package %s not found: update pureCore", rel)
			continue
		}
		for _, q := range append([]string{p.ImportPath}, p.Deps...) {
			dep, ours := pkgs[q]
			if !ours {
				continue // the standard library and modules: checked through ours' imports
			}
			for _, imp := range dep.Imports {
				if isIO(imp) {
					t.Errorf("%s must do no I/O, but %s imports %s", rel, strings.TrimPrefix(q, module+"/"), imp)
				}
			}
		}
	}
}

// layering lists imports a package must not have (prefix match on the
// module-relative path; "*" is any package of the module).
var layering = []struct {
	pkg, mustNot, why string
}{
	{"node", "node/agent", "the core never reaches up into the daemon that assembles it"},
	{"node", "node/membership", "the core asks peers through node.Peers, not through Serf"},
	{"node", "sync/transport", "the core asks peers and central through node.Peers and node.Remote"},
	{"node", "sync/queryrpc", "the core asks peers and central through node.Peers and node.Remote"},
	{"sync/fleet", "node", "fleet sync meets the node only in sync/fleet/fleetnode (the pure leaves node/shard and node/trust are allowed)"},
	{"node/api", "node", "the API edge serves any api.Service"},
	{"sync/transport", "node", "the transport carries frames, whatever they mean"},
	{"sync/wire", "*", "the wire codec is a leaf"},
	{"node/shard", "*", "the shared leaf types import nothing of the module"},
}

// TestLayering: the packages depend on each other in one direction, and
// only main and the test support assemble a daemon.
func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	rel := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }
	for _, p := range pkgs {
		r := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			ri := rel(imp)
			if ri == "node/agent" && r != "" && r != "node/nodetest" {
				t.Errorf("%s imports node/agent: only main and node/nodetest assemble a daemon", r)
			}
			for _, l := range layering {
				if l.pkg != r {
					continue
				}
				leaf := ri == "node/shard" || ri == "node/trust" // pure leaves any layer may use
				banned := l.mustNot == "*" || ri == l.mustNot || (strings.HasPrefix(ri, l.mustNot+"/") && !leaf)
				if banned {
					t.Errorf("%s imports %s: %s", r, ri, l.why)
				}
			}
		}
	}
}

// TestEveryPackageHasADoc: each package says what it is for and who uses it
// in a "Package x ..." comment (the command in "Command edgerag ...").
func TestEveryPackageHasADoc(t *testing.T) {
	for _, p := range listPackages(t) {
		found := false
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc == nil {
				continue
			}
			want := "Package " + p.Name + " "
			if p.Name == "main" {
				want = "Command "
			}
			if !strings.HasPrefix(file.Doc.Text(), want) {
				t.Errorf("%s: package comment in %s starts %q, want %q", p.ImportPath, f, firstLine(file.Doc.Text()), want)
			}
			found = true
		}
		if !found {
			t.Errorf("%s has no package doc comment: say what it is for and who imports it", p.ImportPath)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Rooms of a size to live in: a non-test file holds at most maxFileLines
// lines, a function at most maxFuncLines unless its doc comment says why it
// is longer ("... is long because ...").
const (
	maxFileLines = 800
	maxFuncLines = 100
)

// TestRoomSizes lists every non-test file and function over its size.
func TestRoomSizes(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if n := fset.Position(file.End()).Line; n > maxFileLines {
				t.Errorf("%s: %d lines, over %d: split it by topic", path, n, maxFileLines)
			}
			for _, d := range file.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
				if n > maxFuncLines && !strings.Contains(fd.Doc.Text(), "is long because") {
					t.Errorf("%s: %s is %d lines, over %d: split it, or say in its doc comment why it is long", fset.Position(fd.Pos()), fd.Name.Name, n, maxFuncLines)
				}
			}
		}
	}
}
