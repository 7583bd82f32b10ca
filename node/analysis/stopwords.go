package analysis

// stopwords is Lucene's ENGLISH_STOP_WORDS_SET, the set EnglishAnalyzer
// drops by default. It is deliberately short: BM25's idf already discounts
// common words, and a longer list would remove words questions need ("how",
// "when", "which"). Read-only.
var stopwords = map[string]struct{}{
	"a": {}, "an": {}, "and": {}, "are": {}, "as": {}, "at": {}, "be": {},
	"but": {}, "by": {}, "for": {}, "if": {}, "in": {}, "into": {}, "is": {},
	"it": {}, "no": {}, "not": {}, "of": {}, "on": {}, "or": {}, "such": {},
	"that": {}, "the": {}, "their": {}, "then": {}, "there": {}, "these": {},
	"they": {}, "this": {}, "to": {}, "was": {}, "will": {}, "with": {},
}

// IsStopword reports whether word is in Lucene's English stop set. The
// check is exact: pass the word lower-cased.
func IsStopword(word string) bool {
	_, ok := stopwords[word]
	return ok
}
