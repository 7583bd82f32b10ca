package trust

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Flags name what the detector found. They are part of the API (chunks and
// citations carry them), so a name never changes meaning.
const (
	// FlagInstruction: text that addresses a model or an assistant, or
	// tells it to drop its rules ("ignore previous instructions", "you
	// are now", "when asked, answer ...").
	FlagInstruction = "instruction"
	// FlagDelimiter: a forged role or delimiter (</context>, <system>,
	// [INST], <|im_start|>, "END OF CONTEXT").
	FlagDelimiter = "delimiter"
	// FlagExfiltration: a link or image that would carry data out, or a
	// request to put the conversation into a URL.
	FlagExfiltration = "exfiltration"
	// FlagHidden: text a reader does not see (zero-width or bidi
	// characters, display:none, white on white, comments).
	FlagHidden = "hidden"
	// FlagSecret: a request for secrets, credentials or the prompt.
	FlagSecret = "secret_request"
	// FlagAuthority: a passage claiming to override every other source.
	FlagAuthority = "authority"
	// FlagContradiction: a passage that restates a more trusted passage's
	// subject with different figures (the PoisonedRAG pattern); set by
	// the caller from Contradicts, not by Detect.
	FlagContradiction = "contradiction"
)

// Finding is one detected span of text.
type Finding struct {
	Flag  string `json:"flag"`
	Rule  string `json:"rule"`
	Start int    `json:"start"` // byte offsets into the text Detect was given
	End   int    `json:"end"`
}

type rule struct {
	flag, name string
	// keys are lower-case strings every match contains one of; a text
	// holding none is not matched against re at all, which keeps the
	// screen cheap on the ordinary text that is nearly all of it.
	keys []string
	re   *regexp.Regexp
	// negated rules do not fire when a negation shortly precedes the match
	// ("never share your password" is advice, not a request).
	negated bool
	// check, when set, must accept the match (by submatch indexes).
	check func(s string, m []int) bool
}

// The rules are immutable after package initialisation. RE2 matching is
// linear in the text, so a hostile document cannot make detection slow.
var rules = []rule{
	{flag: FlagInstruction, name: "ignore_previous", keys: []string{"ignore", "disregard", "forget", "override", "bypass"}, re: regexp.MustCompile(`(?i)\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|these\s+|those\s+|my\s+)?(?:previous|prior|above|earlier|preceding|foregoing|original|system|safety|other)\s+(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|context|constraints)\b`)},
	{flag: FlagInstruction, name: "role_change", keys: []string{"you are"}, re: regexp.MustCompile(`(?i)\byou\s+are\s+(?:now|no\s+longer)\s+(?:an?\s+|the\s+|in\s+)?(?:ai\b|assistant|chatbot|language\s+model|llm|dan\b|jailbroken|unrestricted|unfiltered|developer\s+mode|evil|free\s+(?:of|from)|bound\s+by|restricted|limited\s+by)`)},
	{flag: FlagInstruction, name: "act_as", keys: []string{"act", "behave", "pretend", "roleplay"}, re: regexp.MustCompile(`(?i)\b(?:act|behave|pretend|roleplay)\s+(?:as|like|to\s+be)\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|dan\b|evil|different\s+(?:ai|assistant)|new\s+(?:ai|assistant))`)},
	{flag: FlagInstruction, name: "new_instructions", keys: []string{"instruction"}, re: regexp.MustCompile(`(?i)\b(?:new|updated|real|actual|hidden)\s+(?:system\s+)?instructions?\s*(?::|for\s+(?:the\s+)?(?:ai|assistant|model|llm))`)},
	{flag: FlagInstruction, name: "address_model", keys: []string{"attention", "note", "message", "instruction", "reminder", "reading", "processing", "answering", "summari", "reads", "you are"}, re: regexp.MustCompile(`(?i)\b(?:(?:attention|note|message|instructions?|reminder)\s*(?:to|for)?\s*:?\s+(?:the\s+|any\s+|all\s+)?(?:ai\b|ai\s+assistants?|chatbots?|language\s+models?|llms?\b|ai\s+models?|answering\s+(?:system|model)s?)|(?:ai\s+assistants?|language\s+models?|llms?|chatbots?|ai\s+models?|the\s+assistant)\s+(?:reading|processing|answering|summari[sz]ing|that\s+reads?|who\s+reads?)\b|(?:if|when)\s+you\s+are\s+an?\s+(?:ai\b|assistant|language\s+model|llm|chatbot))`)},
	{flag: FlagInstruction, name: "answer_directive", keys: []string{"answer", "respond", "reply", "your output", "mention", "cite", "reveal", "tell the user"}, re: regexp.MustCompile(`(?i)\b(?:(?:when|if|whenever)\s+(?:you\s+are\s+|you're\s+)?(?:asked|questioned|queried)\b[^.\n]*?\b(?:answer|respond|reply)\s+(?:with|that|only)|(?:always|only)\s+(?:answer|respond|reply)\s+(?:with|that)|(?:answer|respond|reply)\s+(?:only\s+)?with\s+the\s+following|(?:in|at\s+the\s+end\s+of)\s+your\s+(?:answer|response|reply|output)\b|(?:do\s+not|don't|never)\s+(?:mention|cite|reveal\s+to\s+the\s+user|tell\s+the\s+user)\s+(?:this|these|the\s+(?:other|previous|real|original|actual))\b)`)},
	{flag: FlagAuthority, name: "supersedes_sources", keys: []string{"supersede", "override", "replace", "precedence", "invalidate"}, re: regexp.MustCompile(`(?i)\b(?:this|the\s+following)\s+(?:document|notice|text|message|passage|note|update)\s+(?:supersedes|overrides|replaces|takes\s+precedence\s+over|invalidates)\s+(?:all|any|every)\s+(?:other|previous|prior|conflicting)\s+(?:documents?|sources?|passages?|instructions?|information|answers?|context)\b`)},
	{flag: FlagAuthority, name: "discredit_sources", keys: []string{"outdated", "wrong", "incorrect", "false", "obsolete", "compromised", "fake", "untrustworthy", "poisoned", "invalid"}, re: regexp.MustCompile(`(?i)\b(?:all\s+)?(?:the\s+)?(?:other|previous|remaining|conflicting)\s+(?:documents?|sources?|passages?|search\s+results)\s+(?:are|is|were)\s+(?:outdated|wrong|incorrect|false|obsolete|compromised|fake|untrustworthy|poisoned|invalid)\b`)},
	{flag: FlagAuthority, name: "system_override", keys: []string{"override", "notice to"}, re: regexp.MustCompile(`(?i)\b(?:system|admin(?:istrator)?|developer|root|security)\s+(?:override|overrides|notice\s+to\s+(?:the\s+)?(?:ai|assistant|model))\s*:`)},
	{flag: FlagDelimiter, name: "role_tag", keys: []string{"<"}, re: regexp.MustCompile(`(?i)</?\s*(?:system|context|contexts|documents?|passages?|user|assistant|instructions?|human|prompt|retrieved|search_results?|tool|function_results?|sys)\s*>`)},
	{flag: FlagDelimiter, name: "special_token", keys: []string{"<|", "inst]", "sys]", "system]", "<<"}, re: regexp.MustCompile(`(?i)<\|[a-z_]{2,30}\|>|\[/?(?:inst|sys|system)\]|<<\s*/?sys\s*>>`)},
	{flag: FlagDelimiter, name: "role_prefix", keys: []string{"system", "assistant"}, re: regexp.MustCompile(`(?i)(?:^|[.!?:]\s+|\n)(?:#{1,6}\s*)?(?:system|assistant)\s*(?:message|prompt)?\s*:\s*(?:you\b|ignore|disregard|from\s+now|new\s+instructions|the\s+(?:user|answer)\b|always|never)`)},
	{flag: FlagDelimiter, name: "context_end", keys: []string{"end of", "begin", "start", "<<<", ">>>"}, re: regexp.MustCompile(`(?i)\b(?:end\s+of\s+(?:the\s+)?(?:context|passages?|retrieved\s+(?:text|documents?|passages?)|documents?\s+provided|user\s+input|system\s+prompt|data\s+section)|(?:begin|start)\s+(?:of\s+)?(?:new\s+)?(?:system\s+prompt|instructions?\s+block))\b|(?:<<<|>>>)\s*(?:end\s+)?passage`)},
	{flag: FlagExfiltration, name: "image_url", keys: []string{"!["}, re: regexp.MustCompile(`(?i)!\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]+)`), check: exfilURL(true)},
	{flag: FlagExfiltration, name: "link_url", keys: []string{"]("}, re: regexp.MustCompile(`(?i)\[[^\]\n]{0,200}\]\(\s*<?(https?://[^\s)>]+)`), check: exfilURL(false)},
	{flag: FlagExfiltration, name: "html_image", keys: []string{"<img"}, re: regexp.MustCompile(`(?i)<img\b[^>]*\bsrc\s*=\s*["']?(https?://[^"'\s>]+)`), check: exfilURL(true)},
	{flag: FlagExfiltration, name: "data_into_url", keys: []string{"url", "link", "query string", "image", "endpoint", "webhook"}, re: regexp.MustCompile(`(?i)\b(?:append|add|include|insert|encode|put|attach|embed)\b[^.\n]*?\b(?:question|conversation|chat\s+history|previous\s+messages|user'?s?\s+(?:data|input|message|question)|secrets?|passwords?|api\s+keys?|prompt)\b[^.\n]*?\b(?:url|link|query\s+string|image\s+(?:url|link|address)|endpoint|webhook)\b`)},
	{flag: FlagSecret, name: "prompt_request", keys: []string{"prompt", "instructions", "rules", "guidelines", "above", "before this"}, re: regexp.MustCompile(`(?i)\b(?:reveal|print|output|repeat|show|display|tell|give|leak|disclose|share|send|dump|write\s+out|expose|recite)\s+(?:me\s+|us\s+)?(?:your|the\s+system|the\s+hidden|the\s+initial|the\s+original)\s+(?:full\s+|entire\s+|complete\s+|hidden\s+|initial\s+|original\s+|system\s+)?(?:system\s+)?(?:prompt|instructions|rules|guidelines)\b|\b(?:repeat|print|output)\s+(?:everything|all|the\s+text|the\s+words)\s+(?:above|before\s+this)\b|\bwhat\s+(?:is|are|were)\s+your\s+(?:system\s+prompt|instructions|initial\s+instructions|rules)\b`)},
	{flag: FlagSecret, name: "secret_request", keys: []string{"key", "password", "credential", "secret", "token", "environment variable", "env var"}, negated: true, re: regexp.MustCompile(`(?i)\b(?:reveal|print|output|leak|disclose|share|send|dump|expose|tell\s+(?:me|us)|give\s+(?:me|us)|include|post|e-?mail|upload|list)\s+(?:me\s+|us\s+)?(?:the\s+|your\s+|all\s+|any\s+|its\s+|stored\s+|saved\s+)*(?:api[\s_-]?keys?|passwords?|credentials|secrets?|access\s+tokens?|auth(?:entication)?\s+tokens?|private\s+keys?|ssh\s+keys?|environment\s+variables|env\s+vars)\b`)},
}

// negation is looked for just before a negated rule's match.
var negation = regexp.MustCompile(`(?i)\b(?:not|never|no|nobody|no\s+one|don't|do\s+not|must\s+not|cannot|can't)\b[^.!?]{0,24}$`)

// placeholder marks a URL built to carry data: template markers, or words
// that name what an attacker wants filled in.
var placeholder = regexp.MustCompile(`(?i)[{}<>$]|%7b|%7d|%3c|\[|\b(?:question|query|prompt|secret|password|passwd|token|api_?key|history|conversation|chat|user_?input|data|answer|q)=|/(?:question|prompt|secret|password|token|history|conversation|chat)(?:[/?#]|$)`)

// exfilURL accepts a matched URL (submatch 1) when it looks built to carry
// data. Images load by themselves, so any query string on one is enough;
// a link needs a placeholder because ordinary links carry queries.
func exfilURL(image bool) func(s string, m []int) bool {
	return func(s string, m []int) bool {
		if len(m) < 4 || m[2] < 0 {
			return false
		}
		u := s[m[2]:m[3]]
		if placeholder.MatchString(u) {
			return true
		}
		return image && strings.Contains(u, "?") && strings.Contains(u, "=")
	}
}

// Detect reports every span of text that looks aimed at a model rather
// than a reader. It never fails: text it cannot read it leaves alone.
// Invisible characters (zero-width, bidi controls, tag characters) are both
// reported as FlagHidden and removed before the other rules look, so that
// "ig\u200bnore previous instructions" is still found.
func Detect(text string) []Finding {
	var out []Finding
	folded, offsets, hidden := fold(text)
	out = append(out, hidden...)
	lower := asciiLower(folded)
	at := func(i int) int { return i }
	if offsets != nil {
		at = func(i int) int { return offsets[i] }
	}
	for ri, ws := range ruleWindows(lower) {
		r := &rules[ri]
		for _, w := range ws {
			for _, m := range r.re.FindAllStringSubmatchIndex(folded[w[0]:w[1]], -1) {
				for i := range m {
					if m[i] >= 0 {
						m[i] += w[0]
					}
				}
				if r.negated && negation.MatchString(folded[max(0, m[0]-40):m[0]]) {
					continue
				}
				if r.check != nil && !r.check(folded, m) {
					continue
				}
				f := Finding{Flag: r.flag, Rule: r.name, Start: at(m[0]), End: at(m[1])}
				if !slices.Contains(out, f) {
					out = append(out, f)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End
	})
	return out
}

// Window bounds around a keyword: every rule's match lies within a
// sentence or two of the keyword it holds. Small windows also let Go's
// regexp use its backtracker instead of the slower NFA.
const (
	windowBefore = 240
	windowAfter  = 400
)

// ruleKey is a rule's key, indexed by its first byte.
type ruleKey struct {
	rule int
	key  string
}

// wordKeys lists, per lower-case letter, the keys that start with it;
// otherKeys are the keys that start with anything else. Built once from
// rules, which never change.
var wordKeys, otherKeys = indexKeys()

func indexKeys() (words [26][]ruleKey, others []ruleKey) {
	for ri, r := range rules {
		for _, k := range r.keys {
			if k != strings.ToLower(k) {
				panic("trust: rule " + r.name + " has a key that is not lower case: " + k)
			}
			if c := k[0]; 'a' <= c && c <= 'z' {
				words[c-'a'] = append(words[c-'a'], ruleKey{ri, k})
			} else {
				others = append(others, ruleKey{ri, k})
			}
		}
	}
	return words, others
}

// ruleWindows returns, per rule, the merged windows of lower around its
// keys' occurrences (see windows). Keys that start with a letter only
// count where a word starts, so rather than searching lower once per key,
// one pass visits the word starts and tries there the few keys that begin
// with that letter: the screen runs on every chunk ingested and, for
// stores written without it, on every passage a question retrieves.
func ruleWindows(lower string) [][][2]int {
	var out [][][2]int
	add := func(ri, pos, n int) {
		if out == nil {
			out = make([][][2]int, len(rules))
		}
		out[ri] = append(out[ri], window(lower, pos, pos+n))
	}
	for pos := 0; pos < len(lower); pos++ {
		c := lower[pos]
		if c < 'a' || c > 'z' || pos > 0 && isLetter(lower[pos-1]) {
			continue
		}
		for _, rk := range wordKeys[c-'a'] {
			if strings.HasPrefix(lower[pos:], rk.key) {
				add(rk.rule, pos, len(rk.key))
			}
		}
	}
	for _, rk := range otherKeys {
		for from := 0; ; {
			i := strings.Index(lower[from:], rk.key)
			if i < 0 {
				break
			}
			add(rk.rule, from+i, len(rk.key))
			from += i + len(rk.key)
		}
	}
	for ri := range out {
		out[ri] = mergeWindows(out[ri])
	}
	return out
}

// windows returns the merged byte ranges of text around every occurrence
// of a key, each starting after white space (so \b holds at its start) and
// ending before it. ruleWindows finds the same ranges faster; this is the
// definition it is tested against.
func windows(lower string, keys []string) [][2]int {
	var out [][2]int
	for _, k := range keys {
		for from := 0; ; {
			i := strings.Index(lower[from:], k)
			if i < 0 {
				break
			}
			pos := from + i
			from = pos + len(k)
			// Keys that start with a letter start a word in every match:
			// "act" in "exact" or "key" in "monkey" opens no window.
			if isLetter(k[0]) && pos > 0 && isLetter(lower[pos-1]) {
				continue
			}
			out = append(out, window(lower, pos, from))
		}
	}
	return mergeWindows(out)
}

// window is the range around a key found at lower[pos:end].
func window(lower string, pos, end int) [2]int {
	s, e := max(0, pos-windowBefore), min(len(lower), end+windowAfter)
	for s > 0 && lower[s-1] != ' ' && lower[s-1] != '\n' && s > pos-windowBefore-64 {
		s--
	}
	for e < len(lower) && lower[e] != ' ' && lower[e] != '\n' && e < end+windowAfter+64 {
		e++
	}
	return [2]int{s, e}
}

// mergeWindows sorts ranges and merges those that overlap or touch.
func mergeWindows(out [][2]int) [][2]int {
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	merged := out[:1]
	for _, w := range out[1:] {
		last := &merged[len(merged)-1]
		if w[0] <= last[1] {
			last[1] = max(last[1], w[1])
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// asciiLower lower-cases ASCII letters only, so offsets stay those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// invisible reports characters a reader does not see but a model reads.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x2064,
		r >= 0x2066 && r <= 0x2069, r == 0xFEFF, r == 0x180E, r == 0x00AD,
		r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

// fold removes invisible characters, returning the folded text, the
// original offset of every folded byte (plus one past the end; nil when
// the text folds to itself) and a
// FlagHidden finding per suspicious run of invisible characters. Zero-width
// spaces, joiners and soft hyphens occur in ordinary text (Wikipedia has
// pairs of them), so only runs of four or more are reported, which is what
// encoding a message in them takes; Unicode tag characters, which spell
// ASCII invisibly, are reported even alone. Either way they are removed, so
// the other rules see through "ig\u200bnore".
func fold(text string) (string, []int, []Finding) {
	if !mayHoldInvisible(text) {
		return text, nil, nil // nil offsets: every byte is where it was
	}
	return foldSlow(text)
}

// foldSlow is fold for text that may hold invisible characters.
func foldSlow(text string) (string, []int, []Finding) {
	var b strings.Builder
	offsets := make([]int, 0, len(text)+1)
	var hidden []Finding
	runStart, runLen, tags := -1, 0, false
	for i, r := range text {
		if invisible(r) {
			if runStart < 0 {
				runStart = i
			}
			runLen++
			tags = tags || r >= 0xE0000
			continue
		}
		if runStart >= 0 {
			if runLen >= 4 || tags {
				hidden = append(hidden, Finding{Flag: FlagHidden, Rule: "invisible_chars", Start: runStart, End: i})
			}
			runStart, runLen, tags = -1, 0, false
		}
		_, n := utf8.DecodeRuneInString(text[i:])
		b.WriteString(text[i : i+n])
		for k := range n {
			offsets = append(offsets, i+k)
		}
	}
	if runStart >= 0 && (runLen >= 4 || tags) {
		hidden = append(hidden, Finding{Flag: FlagHidden, Rule: "invisible_chars", Start: runStart, End: len(text)})
	}
	offsets = append(offsets, len(text))
	return b.String(), offsets, hidden
}

// mayHoldInvisible reports whether text holds a byte that starts the UTF-8
// encoding of an invisible character (U+00AD: C2; U+180E: E1; U+200B to
// U+2069: E2; U+FEFF: EF; tags U+E0000 on: F3). Text without one folds to
// itself, which spares ordinary text the copy and the offset table.
func mayHoldInvisible(text string) bool {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case 0xC2, 0xE1, 0xE2, 0xEF, 0xF3:
			return true
		}
	}
	return false
}

// Names returns the distinct flags of findings, sorted; nil when none.
func Names(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.Flag) {
			out = append(out, f.Flag)
		}
	}
	slices.Sort(out)
	return out
}
