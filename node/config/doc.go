package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// tomlDefault writes a key's default as a TOML value.
func tomlDefault(k Key) string {
	switch k.Kind {
	case Bool, Int, Float:
		if k.Default != "" {
			return k.Default
		}
		return `""`
	case List:
		if k.Default == "" || k.Default == "[]" {
			return "[]"
		}
	}
	return strconv.Quote(k.Default)
}

// Default returns a configuration file with every key commented out at its
// default, each under its flag's usage and environment variable: a file
// that changes nothing, for an operator to uncomment and edit. header is
// the comment at its top (without '#').
func Default(s Schema, header string) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	write := func(k Key) {
		fmt.Fprintf(&b, "\n# %s [%s]\n#%s = %s\n", oneLine(k.Usage), k.Env(), k.Name, tomlDefault(k))
	}
	for _, k := range s.Keys {
		if k.Table == "" {
			write(k)
		}
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "\n\n[%s]\n", t.Name)
		for _, l := range strings.Split(strings.TrimSpace(t.Doc), "\n") {
			if l != "" {
				b.WriteString("# " + l + "\n")
			}
		}
		for _, k := range s.Keys {
			if k.Table == t.Name {
				write(k)
			}
		}
	}
	return b.Bytes()
}

// Markdown returns the reference of every key as Markdown tables, one per
// TOML table. header opens it.
func Markdown(s Schema, header string) []byte {
	var b bytes.Buffer
	b.WriteString(strings.TrimRight(header, "\n") + "\n")
	section := func(title, doc string, table string) {
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		if doc = strings.Join(strings.Fields(doc), " "); doc != "" {
			b.WriteString(doc + "\n\n")
		}
		b.WriteString("| key | default | environment | meaning |\n| --- | --- | --- | --- |\n")
		for _, k := range s.Keys {
			if k.Table != table {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", k.Name, tomlDefault(k), k.Env(), mdEscape(oneLine(k.Usage)))
		}
	}
	section("Top level", "Keys before the first table.", "")
	for _, t := range s.Tables {
		section("["+t.Name+"]", t.Doc, t.Name)
	}
	return b.Bytes()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
