package trust

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Pattern is one kind of data to redact.
type Pattern struct {
	Name string // shown in the replacement, "[redacted:<name>]", and in counts
	Re   *regexp.Regexp
	// Valid, when set, must accept a match before it is redacted (a
	// checksum that tells a card number from a long part number).
	Valid func(match string) bool
	// Group, when above 0, redacts only that submatch (the value of a
	// "password: ..." field, keeping the field's name).
	Group int
}

// Redactor removes personal data and named secrets from text that is about
// to leave the node. It is immutable and safe for concurrent use.
type Redactor struct {
	patterns []Pattern
}

// Redacted is the outcome of one redaction.
type Redacted struct {
	Text   string
	Counts map[string]int // replacements by pattern name; nil when none
}

// Total is the number of replacements.
func (r Redacted) Total() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// DefaultFields are the field names whose values are redacted by default:
// "password: hunter2" keeps its name and loses its value.
var DefaultFields = []string{"password", "passwd", "pwd", "passcode", "pin", "api key", "api_key", "apikey",
	"secret", "token", "access token", "ssn", "social security number", "iban", "account number", "card number", "cvv"}

// The built-in patterns, in the order they apply: structured numbers with
// checksums first, so a card number is not half-eaten as a phone number.
var (
	emailRe = regexp.MustCompile(`(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b`)
	ibanRe  = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b`)
	cardRe  = regexp.MustCompile(`\b[0-9](?:[ -]?[0-9]){12,18}\b`)
	phoneRe = regexp.MustCompile(`(?:\+|\b00)[1-9][0-9]{0,2}[ .-]?(?:\(0\)[ .-]?)?(?:\(?[0-9]{1,5}\)?[ .-]?){1,5}[0-9]{2,6}\b|\(?\b[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}\b|\b0[1-9][0-9]{1,4}[ /.-][0-9]{3,4}[ .-]?[0-9]{2,5}\b`)
)

// NewRedactor returns a redactor with the built-in patterns (email, IBAN
// with its mod-97 check, card numbers with the Luhn check, phone numbers),
// the values of fields named in fields (nil: DefaultFields), and extra
// patterns by name. An extra pattern that does not compile is an error.
func NewRedactor(fields []string, extra map[string]string) (*Redactor, error) {
	if fields == nil {
		fields = DefaultFields
	}
	r := &Redactor{patterns: []Pattern{
		{Name: "email", Re: emailRe},
		{Name: "iban", Re: ibanRe, Valid: validIBAN},
		{Name: "card", Re: cardRe, Valid: luhn},
		{Name: "phone", Re: phoneRe, Valid: phoneDigits},
	}}
	if len(fields) > 0 {
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = strings.ReplaceAll(regexp.QuoteMeta(strings.TrimSpace(f)), `\ `, `[\s_-]?`)
			names[i] = strings.ReplaceAll(names[i], " ", `[\s_-]?`)
		}
		re, err := regexp.Compile(`(?i)\b(?:` + strings.Join(names, "|") + `)\b\s*(?:is|=|:)\s*("[^"]*"|'[^']*'|[^\s,;]+)`)
		if err != nil {
			return nil, fmt.Errorf("redaction fields: %w", err)
		}
		r.patterns = append(r.patterns, Pattern{Name: "field", Re: re, Group: 1})
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		re, err := regexp.Compile(extra[name])
		if err != nil {
			return nil, fmt.Errorf("redaction pattern %q: %w", name, err)
		}
		r.patterns = append(r.patterns, Pattern{Name: name, Re: re})
	}
	return r, nil
}

// Redact replaces every match of every pattern with "[redacted:<name>]".
func (r *Redactor) Redact(text string) Redacted {
	out := Redacted{Text: text}
	for _, p := range r.patterns {
		var b strings.Builder
		last := 0
		for _, m := range p.Re.FindAllStringSubmatchIndex(out.Text, -1) {
			s, e := m[0], m[1]
			if p.Group > 0 && len(m) > 2*p.Group+1 && m[2*p.Group] >= 0 {
				s, e = m[2*p.Group], m[2*p.Group+1]
			}
			if p.Valid != nil && !p.Valid(out.Text[s:e]) {
				continue
			}
			b.WriteString(out.Text[last:s])
			b.WriteString("[redacted:" + p.Name + "]")
			last = e
			if out.Counts == nil {
				out.Counts = make(map[string]int)
			}
			out.Counts[p.Name]++
		}
		if last > 0 {
			b.WriteString(out.Text[last:])
			out.Text = b.String()
		}
	}
	return out
}

// luhn checks a card number's check digit; separators are ignored.
func luhn(s string) bool {
	sum, n, double := 0, 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
		double = !double
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// validIBAN checks an IBAN's length and its ISO 7064 mod-97 check digits.
func validIBAN(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	rem := 0
	for _, c := range s[4:] + s[:4] {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// phoneDigits keeps phone matches with 8 to 15 digits (E.164's bound), so
// dates, part numbers and measurements with a few digits are left alone.
func phoneDigits(s string) bool {
	n := 0
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n >= 8 && n <= 15
}
