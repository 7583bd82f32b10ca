package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdmissionGauges: the gauges an autoscaler reads (the escalation queue
// on central) show each gate's running and waiting requests as the
// snapshot reports them at scrape time.
func TestAdmissionGauges(t *testing.T) {
	m := New()
	m.Observe(func() Snapshot {
		return Snapshot{Admission: []AdmissionGate{
			{Class: "retrieval", Running: 2, Waiting: 7},
			{Class: "generation", Running: 1, Waiting: 0},
		}}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	body := string(b)
	for _, want := range []string{
		`edgerag_admission_running{class="retrieval"} 2`,
		`edgerag_admission_waiting{class="retrieval"} 7`,
		`edgerag_admission_running{class="generation"} 1`,
		`edgerag_admission_waiting{class="generation"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
