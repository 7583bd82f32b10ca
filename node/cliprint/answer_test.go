package cliprint

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgerag/edgerag/node/api"
)

// TestPrintAnswerDegraded: 'edgerag query' says when an answer is degraded
// and why, since the text alone cannot tell a user.
func TestPrintAnswerDegraded(t *testing.T) {
	var b bytes.Buffer
	Answer(&b, api.QueryResponse{Answer: "Not in the local index.", Route: "local", Mode: "extractive", Abstained: true,
		Degraded: true, Reasons: []string{"low_confidence", "central_failed", "deadline"}})
	if !strings.Contains(b.String(), "degraded: low_confidence, central_failed, deadline") {
		t.Errorf("output lacks the degraded line:\n%s", b.String())
	}
	b.Reset()
	Answer(&b, api.QueryResponse{Answer: "Press RESET.", Route: "local", Mode: "extractive"})
	if strings.Contains(b.String(), "degraded") {
		t.Errorf("a plain answer printed as degraded:\n%s", b.String())
	}
}
