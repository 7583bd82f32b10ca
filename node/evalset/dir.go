package evalset

import (
	"os"
	"path/filepath"
)

// SharedDir returns the directory of the shared evaluation sets: the
// EDGERAG_EVAL_DIR environment variable if set, else shared/eval beside the
// repository that contains the working directory (the layout of every
// developer machine and of CI). It returns "" when neither exists, and
// callers skip what needs the data.
func SharedDir() string {
	if d := os.Getenv("EDGERAG_EVAL_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(dir), "shared", "eval")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
