package route

// Coverage is the share of a question's weight whose terms are held:
// Σ weight of held terms / Σ weight. It is 0 for an empty question.
func Coverage(weights []float64, held []bool) float64 {
	var all, in float64
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		all += w
		if i < len(held) && held[i] {
			in += w
		}
	}
	if all == 0 {
		return 0
	}
	return in / all
}
