package cliprint

import (
	"fmt"
	"io"
	"time"

	"github.com/edgerag/edgerag/sync/enroll"
)

// EnrollToken writes a new enrollment token to w, alone on its line for
// scripts, and to info what to run on the device.
func EnrollToken(w, info io.Writer, r enroll.TokenResponse) {
	fmt.Fprintln(w, r.Token)
	fmt.Fprintf(info, "enrollment token for %s (%s), valid once until %s; on the device:\n  edgerag enroll --central CENTRAL_HOST:PORT --ca-fingerprint %s --token %s --name %s\n",
		r.Name, r.Role, r.Expires.Local().Format(time.TimeOnly), r.CAFingerprint, r.Token, r.Name)
}

// Revoked writes what a revocation did and when the fleet acts on it.
func Revoked(w io.Writer, r enroll.RevokeResponse) {
	fmt.Fprintf(w, "%s revoked (certificates issued until %s); central refuses it now, edges at their next sync poll (revocation list %d)\n",
		r.Name, r.RevokedAt.Format(time.RFC3339), r.List)
}
