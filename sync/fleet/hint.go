package fleet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgerag/edgerag/node/shard"
)

// A hint is what an edge tells its site, in a Serf user event, when it
// learns that central published a new version of a shard: the other
// members poll central at once instead of at their next --sync-poll. It is
// only a hint: whatever it says, the poll decides what is applied, so a
// forged or replayed hint costs at most one poll.

// HintPrefix starts the name of a hint's user event. The shard is part of
// the name so that Serf's coalescing keeps the latest hint of each shard
// rather than of all of them.
const HintPrefix = "sync:"

// HintConfig is the name of the user event hinting at a new fleet config
// version.
const HintConfig = "sync-config"

// HintModels is the name of the user event hinting at a new model
// manifest version.
const HintModels = "sync-models"

// maxHintPayload bounds the version in a hint (decimal uint64).
const maxHintPayload = 20

// Hint names a shard version, or a fleet config version, an edge learned
// of.
type Hint struct {
	Shard   string // "" with Config
	Config  bool
	Models  bool // a model manifest version; Shard is ""
	Version uint64
}

// EncodeHint returns the user event name and payload of a hint.
func EncodeHint(h Hint) (name string, payload []byte) {
	name = HintPrefix + h.Shard
	if h.Config {
		name = HintConfig
	}
	if h.Models {
		name = HintModels
	}
	return name, []byte(strconv.FormatUint(h.Version, 10))
}

// hintKey is where Syncer.known keeps a hint's version; '\x00' cannot
// start a shard name.
func (h Hint) key() string {
	if h.Config {
		return "\x00config"
	}
	if h.Models {
		return "\x00models"
	}
	return h.Shard
}

// ErrNotHint reports a user event that is not a sync hint at all; other
// features may send events of their own.
var ErrNotHint = errors.New("not a sync hint")

// ParseHint reads a user event as a hint, refusing anything malformed.
func ParseHint(name string, payload []byte) (Hint, error) {
	shardName, ok := strings.CutPrefix(name, HintPrefix)
	isConfig, isModels := name == HintConfig, name == HintModels
	if !ok && !isConfig && !isModels {
		return Hint{}, ErrNotHint
	}
	if isConfig || isModels {
		shardName = ""
	} else if err := shard.ValidName(shardName); err != nil {
		return Hint{}, fmt.Errorf("sync hint: %w", err)
	}
	if len(payload) == 0 || len(payload) > maxHintPayload || (payload[0] == '0') {
		return Hint{}, fmt.Errorf("sync hint for %q: payload %q is not a version number", shardName, payload)
	}
	v, err := strconv.ParseUint(string(payload), 10, 64)
	if err != nil {
		return Hint{}, fmt.Errorf("sync hint for %q: payload %q is not a version number", shardName, payload)
	}
	return Hint{Shard: shardName, Config: isConfig, Models: isModels, Version: v}, nil
}
