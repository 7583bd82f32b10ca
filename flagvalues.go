package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Flag values that refuse bad input when they are set, not later when the
// node starts, so that 'edgerag config check' catches what serve would
// refuse: a config file's values go through the same Set.

// unitFloat is a float flag that must lie in [0, 1]: confidences and the
// thresholds compared with them.
type unitFloat struct{ p *float64 }

func unitFloatVar(fs *flag.FlagSet, p *float64, name string, value float64, usage string) {
	*p = value
	fs.Var(unitFloat{p}, name, usage)
}

func (u unitFloat) String() string {
	if u.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*u.p, 'g', -1, 64)
}

func (u unitFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	if !(f >= 0 && f <= 1) {
		return fmt.Errorf("%v is outside 0..1", f)
	}
	*u.p = f
	return nil
}

func (u unitFloat) Get() any { return *u.p }

// choice is a string flag limited to a few values.
type choice struct {
	p       *string
	allowed []string
}

func choiceVar(fs *flag.FlagSet, p *string, name, value string, allowed []string, usage string) {
	*p = value
	fs.Var(choice{p, allowed}, name, usage)
}

func (c choice) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

func (c choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(c.allowed, ", "))
	}
	*c.p = s
	return nil
}

func (c choice) Get() any { return *c.p }
