//go:build !linux

package chunk

import "time"

// threadCPU is not available off Linux; within then measures wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
