package evalset

import (
	"slices"
	"strings"
	"unicode"
)

// NormalizeAnswer applies the SQuAD answer normalisation score.py uses:
// lower-case, delete ASCII punctuation, replace the words "a", "an" and "the"
// with a space, and collapse white space. Words are runs of Unicode letters
// and digits, as in Python's regular expressions, so "the" inside "theory"
// or glued to a digit stays. Case mapping is Go's simple Unicode mapping,
// which differs from Python's str.lower only for "İ" and a word-final "Σ".
func NormalizeAnswer(s string) string {
	return strings.Join(answerTokens(s), " ")
}

// answerTokens returns the white-space separated tokens of the normalised s.
func answerTokens(s string) []string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if isASCIIPunct(r) {
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
		if i < 0 {
			i = len(s)
		}
		if word := s[:i]; word == "a" || word == "an" || word == "the" {
			b.WriteByte(' ')
		} else {
			b.WriteString(word)
		}
		s = s[i:]
		// Copy the following run of non-word characters unchanged.
		j := strings.IndexFunc(s, isWordRune)
		if j < 0 {
			j = len(s)
		}
		b.WriteString(s[:j])
		s = s[j:]
	}
	return strings.FieldsFunc(b.String(), isPySpace)
}

// isASCIIPunct matches Python's string.punctuation, which is what the official
// SQuAD script strips: ASCII only, so "–" or "«" survive normalisation.
func isASCIIPunct(r rune) bool {
	return r < 0x80 && strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r)
}

// isWordRune matches Python's \w for str patterns (underscore is already gone
// by the time it is asked).
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_'
}

// isPySpace matches the characters Python's str.split() splits on, which are
// Go's white space plus the ASCII separators U+001C–U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// QAScore scores one predicted answer against the gold answers the way
// score.py's qa command does: exact match and token F1 after normalisation,
// each the best over the gold answers. Golds that normalise to nothing are
// ignored; if none is left the question has no answer, and only an empty
// prediction (the "no answer" prediction) scores 1.
func QAScore(pred string, gold []string) (em, f1 float64) {
	p := answerTokens(pred)
	golds := make([][]string, 0, len(gold))
	for _, g := range gold {
		if t := answerTokens(g); len(t) > 0 {
			golds = append(golds, t)
		}
	}
	if len(golds) == 0 {
		golds = append(golds, nil)
	}
	for _, g := range golds {
		if slices.Equal(p, g) {
			em = 1
		}
		f1 = max(f1, tokenF1(p, g))
	}
	return em, f1
}

// tokenF1 is the harmonic mean of token precision and recall, counting
// repeated tokens at most as often as they occur in both.
func tokenF1(pred, gold []string) float64 {
	if len(pred) == 0 || len(gold) == 0 {
		if len(pred) == len(gold) {
			return 1
		}
		return 0
	}
	counts := make(map[string]int, len(gold))
	for _, t := range gold {
		counts[t]++
	}
	same := 0
	for _, t := range pred {
		if counts[t] > 0 {
			counts[t]--
			same++
		}
	}
	if same == 0 {
		return 0
	}
	prec := float64(same) / float64(len(pred))
	rec := float64(same) / float64(len(gold))
	return 2 * prec * rec / (prec + rec)
}

// QAMetrics are means over the scored questions, as fractions in [0, 1];
// score.py prints the same numbers multiplied by 100.
type QAMetrics struct {
	ExactMatch, F1 float64
	Questions      int // questions scored
	Missing        int // scored questions without a prediction
}

// ScoreQA averages QAScore over the questions that have gold answers
// (Answers non-nil). preds maps query id to predicted answer, "" meaning no
// answer. Without all, only questions with a prediction are scored, as
// score.py does by default; with all, a missing prediction counts as "no
// answer", which is right only for unanswerable questions.
func ScoreQA(queries []Query, preds map[string]string, all bool) QAMetrics {
	var m QAMetrics
	for _, q := range queries {
		if q.Answers == nil {
			continue
		}
		pred, ok := preds[q.ID]
		if !ok && !all {
			continue
		}
		if !ok {
			m.Missing++
		}
		m.Questions++
		em, f1 := QAScore(pred, q.Answers)
		m.ExactMatch += em
		m.F1 += f1
	}
	if m.Questions > 0 {
		m.ExactMatch /= float64(m.Questions)
		m.F1 /= float64(m.Questions)
	}
	return m
}

// ContainsAnswer reports whether any gold answer occurs in text as whole
// normalised tokens: score.py's answer_hit test, which credits a retrieved
// passage that holds the answer even when it is not the judged one.
func ContainsAnswer(text string, answers []string) bool {
	var hay string
	for _, a := range answers {
		a = NormalizeAnswer(a)
		if a == "" {
			continue
		}
		if hay == "" {
			hay = " " + NormalizeAnswer(text) + " "
		}
		if strings.Contains(hay, " "+a+" ") {
			return true
		}
	}
	return false
}
