package cmdline

import (
	"flag"
	"fmt"
	"strconv"
)

// Flag values that refuse bad input when they are set, not later when the
// node starts, so that 'edgerag config check' catches what serve would
// refuse: a config file's values go through the same Set.

// unitFloat (UnitFloatVar) is a float flag that must lie in [0, 1]: confidences and the
// thresholds compared with them.
type unitFloat struct{ p *float64 }

func UnitFloatVar(fs *flag.FlagSet, p *float64, name string, value float64, usage string) {
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

// checkedString (CheckedStringVar) is a string flag whose values check accepts.
type checkedString struct {
	p     *string
	check func(string) error
}

func CheckedStringVar(fs *flag.FlagSet, p *string, name, value string, check func(string) error, usage string) {
	*p = value
	fs.Var(checkedString{p, check}, name, usage)
}

func (c checkedString) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

func (c checkedString) Set(s string) error {
	if err := c.check(s); err != nil {
		return err
	}
	*c.p = s
	return nil
}

func (c checkedString) Get() any { return *c.p }
