package statuspage

import (
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"

	"github.com/edgerag/edgerag/node/api"
)

// textTmpl is the status page for a terminal (`edgerag status`): the same
// view, so the words are the page's, laid out in columns.
var textTmpl = template.Must(template.New("text").Funcs(template.FuncMap{"line": oneLine}).Parse(`{{.Node}}	{{if .Ready}}ready{{else}}loading{{end}} {{.Role}} · edgerag {{.Version}} · up {{.Uptime}}
answerer	{{.Answerer}}
retrieval	{{.Retrieval}}
central	{{.Central.Words}}
{{with .Recal}}escalates	{{.}}
{{end}}memory	{{.Memory.Heap}} heap / {{.Memory.Limit}} · {{.Memory.Sys}} held from the OS
store	{{.Store}} · {{.Documents}} documents · {{.Chunks}} chunks · {{.Terms}} terms

SHARD	VERSION	DOCUMENTS	CHUNKS	UPDATED
{{range .Shards}}{{.Name}}	{{.Version}}	{{.Documents}}	{{.Chunks}}	{{.Updated}}
{{else}}(no shards: edgerag ingest adds documents)
{{end}}{{with .Sync.Rows}}
SYNC	APPLIED	STATE	SINCE
{{range .}}{{.Shard}}	{{.Applied}}{{if .Previous}} (rollback: {{.Previous}}){{end}}	{{.State}}{{if .Target}} → {{.Target}} {{.Pct}}%{{end}}{{if .Error}} {{line .Error}}{{end}}	{{.Ago}}
{{end}}{{end}}{{with .Fleet.Members}}
MEMBER	STATUS	SHARDS
{{range .}}{{.Name}}	{{.Status}}	{{.Shards}}
{{end}}{{end}}{{with .Escalations}}
ESCALATION	COUNT
{{range .}}{{.Reason}}	{{.Count}}
{{end}}{{end}}{{with .Recent}}
RECENT	ROUTE	MODE	CONFIDENCE	MS	QUESTION
{{range .}}{{.Ago}}	{{.Route}}	{{.Mode}}	{{.Conf}}{{if .Abstained}} abstained{{end}}{{if .Degraded}} degraded{{end}}	{{.MS}}	{{line .Question}}
{{end}}{{end}}`))

// oneLine folds whitespace and control characters into single spaces, so
// that text from a user cannot break the columns or move the cursor.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// WriteText writes the status page as text for a terminal, relative to now.
func WriteText(w io.Writer, st api.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if err := textTmpl.Execute(tw, build(st, now)); err != nil {
		return err
	}
	return tw.Flush()
}
