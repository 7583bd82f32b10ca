// Package config reads a node's configuration file: TOML whose keys are the
// flags of 'edgerag serve', grouped in tables. The keys are derived from the
// command's flag.FlagSet, so a new flag is a new key without any change
// here, and every value is applied with flag.FlagSet.Set, so the file, the
// environment and the command line are validated by the same code.
//
// Precedence, highest first: command-line flags, EDGERAG_<KEY> environment
// variables, the file, the flags' defaults.
//
// The package does no I/O: the caller reads the file and the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// MaxFileSize bounds a configuration file; a real one is a few kilobytes.
const MaxFileSize = 1 << 20

// EnvPrefix starts the environment variable of every key.
const EnvPrefix = "EDGERAG_"

// Kind is the type of value a key takes.
type Kind int

// The kinds of key, from the flag's value type.
const (
	String   Kind = iota // any TOML string
	Bool                 // true or false
	Int                  // a TOML integer
	Float                // a TOML integer or float
	Duration             // a string such as "5s" or "1m30s"
	List                 // a string, or an array of strings (flag set once per element)
)

func (k Kind) String() string {
	return [...]string{"string", "boolean", "integer", "number", "duration", "string list"}[k]
}

// Key is one configuration key: a flag, and the table it lives in.
type Key struct {
	Name    string // the flag's name, which is the key's
	Table   string // "" for the top level
	Kind    Kind
	Default string // the flag's default, as the flag package prints it
	Usage   string
}

// Env is the environment variable that sets the key.
func (k Key) Env() string { return EnvName(k.Name) }

// EnvName is the environment variable of the flag name: EDGERAG_ and the
// name in upper case with '-' as '_' (--gen-model: EDGERAG_GEN_MODEL).
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Table groups keys under a [name] header with a comment.
type Table struct {
	Name  string
	Doc   string
	Flags []string
}

// Schema is the set of keys a file may hold.
type Schema struct {
	Tables []Table // in the order they are documented
	Keys   []Key   // top-level keys first, then by table, each in flag order
	byName map[string]int
}

// NewSchema derives the keys from the flags of fs. A flag listed in one of
// tables lives in that table; the others are top-level keys, so a flag added
// later is a key at once. Flags named in skip (such as --config itself)
// are not keys. A table may list a flag fs does not have (one of the other
// command's, or one since renamed): it is ignored, so that a stale list
// cannot stop a node; Missing reports them, for tests.
func NewSchema(fs *flag.FlagSet, tables []Table, skip ...string) (Schema, error) {
	s := Schema{byName: map[string]int{}}
	tableOf := map[string]string{}
	for _, t := range tables {
		if !validTableName(t.Name) {
			return Schema{}, fmt.Errorf("table name %q: use lower-case letters and '-'", t.Name)
		}
		for _, f := range t.Flags {
			if fs.Lookup(f) == nil {
				continue
			}
			if prev, dup := tableOf[f]; dup {
				return Schema{}, fmt.Errorf("--%s is listed in both [%s] and [%s]", f, prev, t.Name)
			}
			tableOf[f] = t.Name
		}
		if fs.Lookup(t.Name) != nil {
			return Schema{}, fmt.Errorf("table [%s] has the name of a flag; a key and a table cannot share it", t.Name)
		}
		s.Tables = append(s.Tables, t)
	}
	var top, inTables []Key
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(skip, f.Name) {
			return
		}
		k := Key{Name: f.Name, Table: tableOf[f.Name], Kind: kindOf(f.Value), Default: f.DefValue, Usage: f.Usage}
		if k.Table == "" {
			top = append(top, k)
		} else {
			inTables = append(inTables, k)
		}
	})
	order := map[string]int{}
	for i, t := range tables {
		for j, f := range t.Flags {
			order[f] = i<<16 | j
		}
	}
	slices.SortStableFunc(inTables, func(a, b Key) int { return order[a.Name] - order[b.Name] })
	s.Keys = append(top, inTables...)
	for i, k := range s.Keys {
		s.byName[k.Name] = i
	}
	return s, nil
}

func validTableName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// Missing returns the flags tables list that fs does not have.
func Missing(fs *flag.FlagSet, tables []Table) []string {
	var out []string
	for _, t := range tables {
		for _, f := range t.Flags {
			if fs.Lookup(f) == nil {
				out = append(out, "["+t.Name+"] "+f)
			}
		}
	}
	return out
}

// Lookup returns the key named name.
func (s Schema) Lookup(name string) (Key, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Key{}, false
	}
	return s.Keys[i], true
}

func (s Schema) hasTable(name string) bool {
	return slices.ContainsFunc(s.Tables, func(t Table) bool { return t.Name == name })
}

// kindOf reads a flag's type from the value the flag package's own types
// return from Get; a custom flag.Value takes strings.
func kindOf(v flag.Value) Kind {
	if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return Bool
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return List
	}
	switch x := g.Get(); x.(type) {
	case bool:
		return Bool
	case int, int64, uint, uint64:
		return Int
	case float64:
		return Float
	case time.Duration:
		return Duration
	case string:
		return String
	default:
		if reflect.TypeOf(x) == nil {
			return List
		}
		return String // flag.TextVar and the like parse their text
	}
}

// Setting is one key's value in a file.
type Setting struct {
	Key    string
	Values []string // the text to give flag.Set; several for a list
	File   string
	Line   int
}

// Error is what is wrong at a line of a file.
type Error struct {
	File string
	Line int // 1-based; 0 when the file as a whole is wrong
	Msg  string
}

// Error reads FILE:LINE: message, as compilers write it, so editors can
// jump to the line.
func (e Error) Error() string {
	switch {
	case e.Line == 0 && e.File == "":
		return e.Msg
	case e.Line == 0:
		return e.File + ": " + e.Msg
	case e.File == "":
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors is every error found in a file, in line order.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Parse reads a file against s and returns its settings, and Errors naming
// the line of every problem it finds: TOML syntax (only the first one: the
// parser cannot go on after it), unknown keys and tables, keys in the wrong
// table, repeated keys, and values of the wrong type. Values of the right
// type are checked by the flags themselves in Apply. With errors, the
// settings are those that had none, so that Apply can check them too.
func Parse(file string, data []byte, s Schema) ([]Setting, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("the file is %d bytes, at most %d allowed; is it the right file?", len(data), MaxFileSize)}}
	}
	// The document parser checks the whole TOML grammar and semantics
	// (duplicate keys, redefined tables) and says where; the walk below
	// needs a document that is valid TOML.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, Errors{{File: file, Line: line, Msg: "not valid TOML: " + de.Error()}}
		}
		return nil, Errors{{File: file, Msg: "not valid TOML: " + err.Error()}}
	}

	var (
		p     unstable.Parser
		errs  Errors
		out   []Setting
		table string // "" at the top level, else the current [table]
		seen  = map[string]int{}
	)
	p.Reset(data)
	line := func(n *unstable.Node) int { return p.Shape(n.Raw).Start.Line }
	fail := func(l int, format string, args ...any) {
		errs = append(errs, Error{File: file, Line: l, Msg: fmt.Sprintf(format, args...)})
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, first := keyParts(e)
			table = strings.Join(parts, ".")
			switch {
			case e.Kind == unstable.ArrayTable:
				fail(line(first), "[[%s]]: arrays of tables are not used; write [%s]", table, table)
				table = "\x00" // keys under it were reported with it
			case s.hasTable(table):
			default:
				fail(line(first), "unknown table [%s]%s", table, s.suggestTable(table))
				table = "\x00"
			}
		case unstable.KeyValue:
			parts, first := keyParts(e)
			l := line(first)
			if table == "\x00" {
				continue
			}
			tbl, name := table, parts[len(parts)-1]
			if len(parts) > 1 {
				tbl = strings.Join(append([]string{table}, parts[:len(parts)-1]...), ".")
				tbl = strings.TrimPrefix(tbl, ".")
			}
			k, ok := s.Lookup(name)
			switch {
			case !ok:
				where := "at the top level"
				if tbl != "" {
					where = "in [" + tbl + "]"
				}
				fail(l, "unknown key %q %s%s", name, where, s.suggestKey(name))
				continue
			case k.Table != tbl && k.Table == "":
				fail(l, "%q is a top-level key: put it before the first [table]", name)
				continue
			case k.Table != tbl:
				fail(l, "%q belongs in the [%s] table", name, k.Table)
				continue
			}
			if prev, dup := seen[name]; dup {
				fail(l, "%q is already set at line %d", name, prev)
				continue
			}
			seen[name] = l
			vals, err := values(e.Value(), k)
			if err != nil {
				fail(l, "%s: %v", name, err)
				continue
			}
			out = append(out, Setting{Key: name, Values: vals, File: file, Line: l})
		}
	}
	if err := p.Error(); err != nil && len(errs) == 0 {
		// toml.Unmarshal accepted what the walk refuses: report it
		// without a line rather than not at all.
		fail(0, "not valid TOML: %v", err)
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// Load parses a file and applies it and the environment to fs (see Parse
// and Apply). Its error lists every problem: the file's, by line — those
// of the TOML, then the values the flags refused — then the environment's.
// It returns how many keys the file set.
func Load(file string, data []byte, s Schema, fs *flag.FlagSet, env func(string) (string, bool), given map[string]bool) (int, error) {
	settings, perr := Parse(file, data, s)
	aerr := Apply(fs, s, settings, env, given)
	if perr == nil {
		return len(settings), aerr
	}
	all := append(Errors(nil), perr.(Errors)...)
	var rest []error
	var ae Errors
	switch {
	case aerr == nil:
	case errors.As(aerr, &ae):
		all = append(all, ae...)
		if j, ok := aerr.(interface{ Unwrap() []error }); ok {
			rest = j.Unwrap()[1:]
		}
	default:
		rest = []error{aerr}
	}
	slices.SortStableFunc(all, func(a, b Error) int { return a.Line - b.Line })
	return len(settings), errors.Join(append([]error{all}, rest...)...)
}

// keyParts returns the parts of a node's (possibly dotted) key and its
// first part, whose position is the key's.
func keyParts(e *unstable.Node) ([]string, *unstable.Node) {
	var parts []string
	var first *unstable.Node
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		parts = append(parts, string(n.Data))
	}
	return parts, first
}

// values turns a TOML value into the text flag.Set takes, refusing the
// types the key does not take.
func values(v *unstable.Node, k Key) ([]string, error) {
	text := string(v.Data)
	want := func() error {
		switch k.Kind {
		case Duration:
			return fmt.Errorf("want a duration as a string, such as \"5s\" or \"2m\"; got %s", describe(v))
		case List:
			return fmt.Errorf("want a string or an array of strings; got %s", describe(v))
		case String:
			return fmt.Errorf("want a string (in quotes); got %s", describe(v))
		}
		if k.Kind == Int {
			return fmt.Errorf("want an integer; got %s", describe(v))
		}
		return fmt.Errorf("want a %s; got %s", k.Kind, describe(v))
	}
	switch v.Kind {
	case unstable.String:
		if k.Kind == String || k.Kind == Duration || k.Kind == List {
			return []string{text}, nil
		}
	case unstable.Bool:
		if k.Kind == Bool {
			return []string{text}, nil
		}
	case unstable.Integer:
		if k.Kind == Int || k.Kind == Float {
			// TOML's integers (0x, 0o, 0b, '_') are Go's, and flag
			// parses plain decimal.
			n, err := strconv.ParseInt(text, 0, 64)
			if err != nil {
				return nil, fmt.Errorf("integer %s: %w", text, err)
			}
			return []string{strconv.FormatInt(n, 10)}, nil
		}
	case unstable.Float:
		if k.Kind == Float {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, fmt.Errorf("number %s: %w", text, err)
			}
			return []string{strconv.FormatFloat(f, 'g', -1, 64)}, nil
		}
	case unstable.Array:
		if k.Kind == List {
			var out []string
			it := v.Children()
			for it.Next() {
				c := it.Node()
				if c.Kind != unstable.String {
					return nil, fmt.Errorf("want an array of strings; element %d is %s", len(out)+1, describe(c))
				}
				out = append(out, string(c.Data))
			}
			return out, nil
		}
	}
	return nil, want()
}

func describe(v *unstable.Node) string {
	switch v.Kind {
	case unstable.String:
		return fmt.Sprintf("the string %q", v.Data)
	case unstable.Bool, unstable.Integer, unstable.Float:
		return fmt.Sprintf("%s %s", strings.ToLower(v.Kind.String()), v.Data)
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "an inline table"
	}
	return "a date or time"
}

// suggestKey names the key the user probably meant, for typos like
// gen_model or genmodel.
func (s Schema) suggestKey(name string) string {
	norm := func(x string) string { return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(x)) }
	for _, k := range s.Keys {
		if norm(k.Name) == norm(name) {
			return fmt.Sprintf(" (did you mean %q?)", k.Name)
		}
	}
	if strings.HasPrefix(strings.ToUpper(name), EnvPrefix) {
		return " (environment variable names are not keys: write the flag's name)"
	}
	return " (see 'edgerag config default' for every key)"
}

func (s Schema) suggestTable(name string) string {
	names := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		names[i] = "[" + t.Name + "]"
	}
	return "; the tables are " + strings.Join(names, ", ")
}

// Apply sets the flags of fs from the file's settings and then from the
// environment, leaving alone every flag in given (those on the command
// line): flags > environment > file > defaults. An environment variable
// that is set but empty counts as unset, as systemd's Environment= lines
// often leave them. It returns every value a flag refused, with its line or
// variable.
func Apply(fs *flag.FlagSet, s Schema, settings []Setting, env func(string) (string, bool), given map[string]bool) error {
	var errs Errors
	for _, st := range settings {
		if given[st.Key] {
			continue
		}
		for _, v := range st.Values {
			if err := fs.Set(st.Key, v); err != nil {
				k, _ := s.Lookup(st.Key)
				errs = append(errs, Error{File: st.File, Line: st.Line, Msg: fmt.Sprintf("%s = %s: %s", st.Key, v, flagErr(k.Kind, err))})
				break
			}
		}
	}
	var envErrs []error
	if env != nil {
		for _, k := range s.Keys {
			if given[k.Name] {
				continue
			}
			v, ok := env(k.Env())
			if !ok || v == "" {
				continue
			}
			if err := fs.Set(k.Name, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("environment variable %s=%q: %s", k.Env(), v, flagErr(k.Kind, err)))
			}
		}
	}
	if len(errs) == 0 && len(envErrs) == 0 {
		return nil
	}
	if len(errs) == 0 {
		return errors.Join(envErrs...)
	}
	if len(envErrs) == 0 {
		return errs
	}
	return errors.Join(append([]error{errs}, envErrs...)...)
}

// flagErr says what a flag wanted when it refused a value; the flag
// package's own types only say "parse error" or "value out of range".
func flagErr(k Kind, err error) string {
	msg := err.Error()
	switch msg {
	case "parse error":
		switch k {
		case Duration:
			return "not a duration: write a number with a unit, such as 500ms, 5s, 2m or 1h"
		case Bool:
			return "not a boolean: write true or false"
		}
		return "not a valid " + k.String()
	case "value out of range":
		return "out of range for a " + k.String()
	}
	return msg
}
