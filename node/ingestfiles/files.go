// Package ingestfiles turns files, directories and JSONL corpora into the
// node API's documents, and sends them to a node in batches: the format
// told by the file name (or given), a Markdown file's title, a corpus line
// per document, and a progress bar with rate and ETA. 'edgerag ingest'
// imports it; serving code does not.
package ingestfiles

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/edgerag/edgerag/node/api"
)

// Formats are the values a format may take ("" is: from the file name).
var Formats = []string{"text", "markdown", "html", "jsonl"}

// ReadPath walks a file or directory and emits a document per file, or per
// line of a JSONL corpus. A file named on the command line has the format
// given (--format), else the one its name says; one whose name says
// nothing is refused rather than taken for text, as a key or a binary would
// be. In a directory such files are skipped.
func ReadPath(ctx context.Context, root, format string, emit func(api.Document, int64) error) error {
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if format == "" {
			if format = FormatOf(root); format == "" {
				return fmt.Errorf("%s: cannot tell the format from the name; name it .txt, .md, .html or .jsonl, or pass --format text|markdown|html|jsonl", root)
			}
		}
		return readFile(ctx, root, filepath.Base(root), format, emit)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || FormatOf(path) == "" {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		return readFile(ctx, path, filepath.ToSlash(rel), FormatOf(path), emit)
	})
}

// FormatOf maps a file name to a document format, or "" when the name does
// not say (no extension, or another one).
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return "markdown"
	case ".html", ".htm":
		return "html"
	case ".txt", ".text":
		return "text"
	case ".jsonl":
		return "jsonl"
	}
	return ""
}

func readFile(ctx context.Context, path, id, format string, emit func(api.Document, int64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if format == "jsonl" {
		return readJSONL(ctx, path, emit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%s: not UTF-8 text; convert it first (e.g. iconv -t UTF-8)", path)
	}
	abs, _ := filepath.Abs(path)
	return emit(api.Document{ID: id, Title: titleOf(string(b), format, path), Source: "file://" + filepath.ToSlash(abs), Format: format, Body: string(b)}, int64(len(b)))
}

// titleOf picks a Markdown file's first heading, else the file name.
func titleOf(body, format, path string) string {
	if format == "markdown" {
		for line := range strings.Lines(body) {
			if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok {
				return strings.TrimSpace(t)
			}
		}
	}
	if format == "html" {
		return "" // the node takes the <title>
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// corpusLine is one line of a corpus in the shared/eval layout.
type corpusLine struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Text     string            `json:"text"`
	Source   string            `json:"source"`
	Format   string            `json:"format"`
	Metadata map[string]string `json:"metadata"`
}

func readJSONL(ctx context.Context, path string, emit func(api.Document, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), api.MaxDocumentBody+64<<10)
	for line := 1; sc.Scan(); line++ {
		if line%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var c corpusLine
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if c.ID == "" {
			return fmt.Errorf("%s:%d: no \"id\"", path, line)
		}
		if strings.TrimSpace(c.Text) == "" {
			c.Text = c.Title // some corpora have documents with a title only
		}
		if strings.TrimSpace(c.Text) == "" {
			continue
		}
		if err := emit(api.Document{ID: c.ID, Title: c.Title, Source: c.Source, Format: c.Format, Body: c.Text, Metadata: c.Metadata}, int64(len(b)+1)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: a line is longer than %d bytes: split that document", path, api.MaxDocumentBody)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// sizeOf is the bytes of the files under paths that ReadPath reads.
func sizeOf(paths []string) (int64, error) {
	var total int64
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (path == p || FormatOf(path) != "") {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", p, err)
		}
	}
	return total, nil
}
