package node

import (
	"fmt"
	"strconv"
	"time"

	"github.com/edgerag/edgerag/node/route"
)

// Tunables are the settings a node may change while it runs: thresholds
// and timeouts that only steer the next queries, never what is stored. Fleet
// sync's config manifest sets them (see SetTunables); everything else needs
// a restart.
type Tunables struct {
	// EscalateBelow is the local confidence below which a query is asked
	// remotely (--escalate-below; route.Thresholds.MinConfidence).
	EscalateBelow float64 `json:"escalate-below"`
	// MinConfidence is the confidence below which the node abstains
	// (--min-confidence).
	MinConfidence float64 `json:"min-confidence"`
	// QueryTimeout bounds a whole query, escalation included
	// (--query-timeout).
	QueryTimeout time.Duration `json:"query-timeout"`
	// CentralCooldown is how long the circuit to central stays open after
	// it failed (--central-cooldown).
	CentralCooldown time.Duration `json:"central-cooldown"`
}

// TunableNames returns the names of the settings that can change at run
// time, sorted: the serve flags that set them at start, and the only
// settings a fleet config manifest may carry.
func TunableNames() []string {
	return []string{"central-cooldown", "escalate-below", "min-confidence", "query-timeout"}
}

// Bounds of the run-time settings. A timeout under 100 ms would turn every
// escalation into a failure; over 10 minutes a hung query holds resources
// for no answer anyone waits for.
const (
	minQueryTimeout = 100 * time.Millisecond
	maxQueryTimeout = 10 * time.Minute
	maxCooldown     = 24 * time.Hour
)

// Validate reports settings a node must not run with.
func (t Tunables) Validate() error {
	switch {
	case !(t.EscalateBelow >= 0 && t.EscalateBelow <= 1):
		return fmt.Errorf("escalate-below %v: must be between 0 and 1", t.EscalateBelow)
	case !(t.MinConfidence >= 0 && t.MinConfidence <= 1):
		return fmt.Errorf("min-confidence %v: must be between 0 and 1", t.MinConfidence)
	case t.QueryTimeout < minQueryTimeout || t.QueryTimeout > maxQueryTimeout:
		return fmt.Errorf("query-timeout %v: must be between %v and %v", t.QueryTimeout, minQueryTimeout, maxQueryTimeout)
	case t.CentralCooldown <= 0 || t.CentralCooldown > maxCooldown:
		return fmt.Errorf("central-cooldown %v: must be above 0 and at most %v", t.CentralCooldown, maxCooldown)
	}
	return nil
}

// Set parses value into the setting named name, as the serve flag of that
// name would, and checks it is in range.
func (t *Tunables) Set(name, value string) error {
	next := *t
	switch name {
	case "escalate-below", "min-confidence":
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("%s = %q: want a number between 0 and 1", name, value)
		}
		if name == "escalate-below" {
			next.EscalateBelow = f
		} else {
			next.MinConfidence = f
		}
	case "query-timeout", "central-cooldown":
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%s = %q: want a duration such as 5s or 2m", name, value)
		}
		if name == "query-timeout" {
			next.QueryTimeout = d
		} else {
			next.CentralCooldown = d
		}
	default:
		return fmt.Errorf("setting %q cannot change at run time; fleet config may carry %v", name, TunableNames())
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*t = next
	return nil
}

// Get returns the value of the setting named name as text Set accepts.
func (t Tunables) Get(name string) (string, bool) {
	switch name {
	case "escalate-below":
		return strconv.FormatFloat(t.EscalateBelow, 'g', -1, 64), true
	case "min-confidence":
		return strconv.FormatFloat(t.MinConfidence, 'g', -1, 64), true
	case "query-timeout":
		return t.QueryTimeout.String(), true
	case "central-cooldown":
		return t.CentralCooldown.String(), true
	}
	return "", false
}

// Tunables returns the run-time settings in force.
func (n *Node) Tunables() Tunables {
	if t := n.tun.Load(); t != nil {
		return *t
	}
	return Tunables{EscalateBelow: n.cfg.Routing.MinConfidence, MinConfidence: n.cfg.MinConfidence,
		QueryTimeout: n.cfg.QueryTimeout, CentralCooldown: n.cfg.CentralCooldown}
}

// SetTunables replaces the run-time settings in one step: a query already
// running keeps those it started with, the next one sees all the new ones.
// Each change is logged.
func (n *Node) SetTunables(t Tunables, why string) error {
	if err := t.Validate(); err != nil {
		return err
	}
	n.tunMu.Lock()
	defer n.tunMu.Unlock()
	old := n.Tunables()
	if old == t {
		return nil
	}
	for _, name := range TunableNames() {
		ov, _ := old.Get(name)
		nv, _ := t.Get(name)
		if ov != nv {
			n.log.Info("setting changed at run time", "setting", name, "from", ov, "to", nv, "by", why)
		}
	}
	n.breaker.SetCooldown(t.CentralCooldown)
	n.tun.Store(&t)
	return nil
}

// routing is the routing thresholds with the run-time escalation threshold.
func (n *Node) routing(t Tunables) route.Thresholds {
	r := n.cfg.Routing
	r.MinConfidence = t.EscalateBelow
	return r
}
