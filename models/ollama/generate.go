package ollama

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/edgerag/edgerag/models"
)

// Names of the signals Generate puts in Answer.Signals, each in [0,1].
const (
	// SignalTokenProbMean is the geometric mean of the generated tokens'
	// probabilities: exp(mean logprob).
	SignalTokenProbMean = "token_prob_mean"
	// SignalTokenProbP10 is the 10th percentile of the token probabilities:
	// low when a few tokens were guesses.
	SignalTokenProbP10 = "token_prob_p10"
	// SignalTokenProbMin is the least likely token's probability.
	SignalTokenProbMin = "token_prob_min"
	// SignalTopMargin is the mean lead of each chosen token's probability
	// over the best alternative's; present only when TopLogprobs >= 2.
	SignalTopMargin = "top_margin"
	// SignalCitationsValid is valid/(valid+invalid), where valid counts the
	// distinct passages cited and invalid the citation numbers that named no
	// passage (and were removed); 1 when the text cited nothing.
	SignalCitationsValid = "citations_valid"
	// SignalCited is 1 when the answer cites at least one passage, else 0.
	SignalCited = "cited"
	// SignalComplete is 1 when the model ended the answer itself, 0 when
	// NumPredict cut it off.
	SignalComplete = "complete"
)

// Generator is the models.Generator view of a Client.
type Generator struct{ c *Client }

var _ models.Generator = (*Generator)(nil)

// Generator returns the client's models.Generator.
func (c *Client) Generator() *Generator { return &Generator{c: c} }

// Model names the generation model, with its digest once Check has run.
func (g *Generator) Model() string { return g.c.modelID(g.c.cfg.GenModel) }

// Generate answers req from its passages; see Client.Generate.
func (g *Generator) Generate(ctx context.Context, req models.GenerateRequest, onToken func(models.Token) error) (models.Answer, []models.Token, error) {
	return g.c.Generate(ctx, req, onToken)
}

// Generate answers req.Question from req.Passages with the generation model,
// streaming each token with its log probability to onToken (which may be
// nil; an error from it stops generation and is returned). It returns the
// answer, with citations outside the passages removed, and every token.
// With no passages it abstains without asking the model.
//
// It is long because the request, the decoding of the stream, the token
// callbacks and the final answer's citation checks share one stream's state.
func (c *Client) Generate(ctx context.Context, req models.GenerateRequest, onToken func(models.Token) error) (models.Answer, []models.Token, error) {
	if c.cfg.GenModel == "" {
		return models.Answer{}, nil, fmt.Errorf("%w: ollama generate: no generation model configured; set Config.GenModel", models.ErrUnavailable)
	}
	if len(req.Passages) == 0 {
		return models.Answer{
			Text: AbstainAnswer, Mode: models.ModeGenerative, Abstained: true,
			Signals: map[string]float64{},
		}, nil, nil
	}

	system, prompt := BuildPrompt(req.Question, req.Passages)
	stream := true
	think := false // reasoning would spend a device's tokens on text no one reads
	apiReq := &api.GenerateRequest{
		Model:       c.cfg.GenModel,
		System:      system,
		Prompt:      prompt,
		Stream:      &stream,
		Think:       &api.ThinkValue{Value: think},
		KeepAlive:   c.keepAlive(),
		Options:     c.options(true),
		Logprobs:    true,
		TopLogprobs: c.cfg.TopLogprobs,
	}

	var (
		text       strings.Builder
		tokens     []models.Token
		margins    []float64
		done       bool
		doneReason string
		callerErr  error // from onToken: the caller's, returned as it is
	)
	emit := func(t models.Token) error {
		tokens = append(tokens, t)
		if onToken == nil {
			return nil
		}
		if err := onToken(t); err != nil {
			callerErr = err
			return err
		}
		return nil
	}

	callCtx, cancel := c.withTimeout(ctx)
	defer cancel()
	err := c.api.Generate(callCtx, apiReq, func(r api.GenerateResponse) error {
		text.WriteString(r.Response)
		if r.Done {
			done, doneReason = true, r.DoneReason
		}
		if len(r.Logprobs) == 0 {
			// A chunk without logprobs (a server that does not report
			// them) still carries text the caller should see.
			if r.Response != "" {
				return emit(models.Token{Text: r.Response})
			}
			return nil
		}
		for _, lp := range r.Logprobs {
			if m, ok := topMargin(lp); ok {
				margins = append(margins, m)
			}
			if err := emit(models.Token{Text: lp.Token, Logprob: lp.Logprob, HasLogprob: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if callerErr != nil {
		return models.Answer{}, tokens, fmt.Errorf("ollama generate: stopped by the token callback: %w", callerErr)
	}
	if err != nil {
		return models.Answer{}, tokens, c.fail(ctx, callCtx, "generate", c.cfg.GenModel, err)
	}
	if !done {
		// The client library ends a stream quietly when the connection
		// drops, and the server ends it without a final message when a
		// model loops on one token: neither answer is whole.
		if ctx.Err() != nil {
			return models.Answer{}, tokens, fmt.Errorf("ollama generate %s: %w", c.cfg.GenModel, ctx.Err())
		}
		c.transport.CloseIdleConnections()
		return models.Answer{}, tokens, fmt.Errorf("%w: ollama generate %s: the stream from %s ended without its final message after %d tokens (connection lost, or the model repeated one token); retry, or try another model",
			models.ErrUnavailable, c.cfg.GenModel, c.host, len(tokens))
	}

	return GroundedAnswer(text.String(), req.Passages, tokens, margins, doneReason == "stop"), tokens, nil
}

// GroundedAnswer turns text a model wrote for the prompt BuildPrompt made of
// passages into an Answer: citations outside the passages removed and
// counted, abstention recognised, and the signals of its tokens, the
// margins TopMargin measured and whether the model ended the answer itself
// (complete) rather than hitting its token cap. Every backend that uses
// BuildPrompt finishes with it, so an answer means the same whichever
// server wrote it.
func GroundedAnswer(text string, passages []models.Passage, tokens []models.Token, margins []float64, complete bool) models.Answer {
	clean, cited, invalid := ValidateCitations(text, maxPassageNumber(passages))
	clean = strings.TrimSpace(clean)
	return models.Answer{
		Text:      clean,
		Mode:      models.ModeGenerative,
		Cited:     cited,
		Abstained: isAbstention(clean),
		Signals:   signals(tokens, margins, len(cited), invalid, complete),

		InvalidCitations: invalid,
	}
}

// isAbstention reports whether the model gave the reply the prompt asks for
// when the passages do not answer; models often add a citation or drop the
// full stop, so those do not count.
func isAbstention(text string) bool {
	norm := func(s string) string {
		s, _, _ = strings.Cut(strings.ToLower(s), "[")
		return strings.TrimRight(strings.TrimSpace(s), ".")
	}
	return strings.HasPrefix(norm(text), norm(AbstainAnswer))
}

// Alternative is one of the likeliest tokens a server reports for a
// position of the generated text.
type Alternative struct {
	Token   string
	Logprob float64
}

// topMargin is TopMargin for a token as the Ollama API reports it.
func topMargin(lp api.Logprob) (float64, bool) {
	alts := make([]Alternative, len(lp.TopLogprobs))
	for i, a := range lp.TopLogprobs {
		alts[i] = Alternative{Token: a.Token, Logprob: a.Logprob}
	}
	return TopMargin(lp.Token, lp.Logprob, alts)
}

// TopMargin is how far the chosen token's probability leads the most likely
// other token among the alternatives the server reported; ok is false when
// fewer than two were reported, which says nothing about a lead.
func TopMargin(chosen string, logprob float64, alts []Alternative) (margin float64, ok bool) {
	best := math.Inf(-1)
	for _, alt := range alts {
		if alt.Token != chosen {
			best = max(best, alt.Logprob)
		}
	}
	if len(alts) < 2 || math.IsInf(best, -1) {
		return 0, false
	}
	return max(0, math.Exp(logprob)-math.Exp(best)), true
}

// signals condenses the generation into scores in [0,1] for the confidence
// computation.
func signals(tokens []models.Token, margins []float64, valid, invalid int, complete bool) map[string]float64 {
	s := map[string]float64{
		SignalCited:    0,
		SignalComplete: 0,
	}
	if valid > 0 {
		s[SignalCited] = 1
	}
	if complete {
		s[SignalComplete] = 1
	}
	s[SignalCitationsValid] = 1
	if valid+invalid > 0 {
		s[SignalCitationsValid] = float64(valid) / float64(valid+invalid)
	}

	var lps []float64
	for _, t := range tokens {
		if t.HasLogprob {
			lps = append(lps, min(0, t.Logprob))
		}
	}
	if len(lps) > 0 {
		var sum float64
		for _, lp := range lps {
			sum += lp
		}
		slices.Sort(lps)
		s[SignalTokenProbMean] = math.Exp(sum / float64(len(lps)))
		s[SignalTokenProbMin] = math.Exp(lps[0])
		s[SignalTokenProbP10] = math.Exp(lps[(len(lps)-1)/10])
	}
	if len(margins) > 0 {
		var sum float64
		for _, m := range margins {
			sum += m
		}
		s[SignalTopMargin] = sum / float64(len(margins))
	}
	return s
}
