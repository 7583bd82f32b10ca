package agent

import (
	"strings"
	"testing"
)

// TestIdentityMissingSaysCertIssue: a node whose certificate is not in
// --tls-dir is told how to issue it.
func TestIdentityMissingSaysCertIssue(t *testing.T) {
	dir := t.TempDir()
	_, err := FleetConfig{TLSDir: dir}.identity("edge-2")
	if err == nil || !strings.Contains(err.Error(), "edgerag cert issue --ca CA_DIR --out "+dir+" --name edge-2") {
		t.Errorf("%v", err)
	}
}
