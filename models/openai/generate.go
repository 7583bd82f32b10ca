package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/edgerag/edgerag/models"
	"github.com/edgerag/edgerag/models/ollama"
)

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	Stream      bool      `json:"stream,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Logprobs    bool      `json:"logprobs,omitempty"`
	TopLogprobs int       `json:"top_logprobs,omitempty"`
}

// logprob is one generated token as the API reports it.
type logprob struct {
	Token       string  `json:"token"`
	Logprob     float64 `json:"logprob"`
	TopLogprobs []struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
	} `json:"top_logprobs"`
}

// choice is the part of a streamed chunk (delta) or of a whole completion
// (message) that this client reads.
type choice struct {
	Index int `json:"index"`
	Delta struct {
		Content string `json:"content"`
	} `json:"delta"`
	Message struct {
		Content string `json:"content"`
	} `json:"message"`
	Logprobs *struct {
		Content []logprob `json:"content"`
	} `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type chunk struct {
	Choices []choice        `json:"choices"`
	Error   json.RawMessage `json:"error"`
}

// Generate answers req.Question from req.Passages, streaming each token to
// onToken (which may be nil; an error from it stops generation and is
// returned). It uses ollama.BuildPrompt and ollama.GroundedAnswer, so the
// prompt, the citation checks and the signals are those of the Ollama
// route. With no passages it abstains without asking the model.
func (c *Client) Generate(ctx context.Context, req models.GenerateRequest, onToken func(models.Token) error) (models.Answer, []models.Token, error) {
	if len(req.Passages) == 0 {
		return models.Answer{
			Text: ollama.AbstainAnswer, Mode: models.ModeGenerative, Abstained: true,
			Signals: map[string]float64{},
		}, nil, nil
	}
	system, prompt := ollama.BuildPrompt(req.Question, req.Passages)
	temp := c.cfg.Temperature
	body := chatRequest{
		Model:       c.cfg.Model,
		Messages:    []message{{Role: "system", Content: system}, {Role: "user", Content: prompt}},
		Stream:      true,
		Temperature: &temp,
		MaxTokens:   c.cfg.MaxTokens,
	}
	askLogprobs := c.cfg.TopLogprobs > 0 && !c.noLogprobs.Load()
	if askLogprobs {
		body.Logprobs, body.TopLogprobs = true, c.cfg.TopLogprobs
	}

	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.post(ctx, callCtx, body)
	var st *httpStatusError
	if askLogprobs && errors.As(err, &st) && st.Code == http.StatusBadRequest {
		// Some servers refuse the logprobs fields outright; an answer
		// without them is still an answer, scored on retrieval alone.
		body.Logprobs, body.TopLogprobs = false, 0
		if resp, err = c.post(ctx, callCtx, body); err == nil {
			c.noLogprobs.Store(true)
		}
	}
	if err != nil {
		return models.Answer{}, nil, err
	}
	defer resp.Body.Close()

	var acc accumulator
	acc.onToken = onToken
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// The server ignored "stream": one whole completion.
		err = acc.whole(resp.Body)
	} else {
		err = acc.stream(resp.Body)
	}
	switch {
	case acc.callerErr != nil:
		return models.Answer{}, acc.tokens, fmt.Errorf("openai generate: stopped by the token callback: %w", acc.callerErr)
	case err != nil:
		return models.Answer{}, acc.tokens, c.fail(ctx, callCtx, "chat completion", err)
	case !acc.done:
		if ctx.Err() != nil {
			return models.Answer{}, acc.tokens, fmt.Errorf("openai generate %s: %w", c.cfg.Model, ctx.Err())
		}
		c.transport.CloseIdleConnections()
		return models.Answer{}, acc.tokens, fmt.Errorf("%w: openai generate %s: the stream from %s ended without a finish reason after %d tokens (connection lost?); retry",
			models.ErrUnavailable, c.cfg.Model, c.base, len(acc.tokens))
	}
	return ollama.GroundedAnswer(acc.text.String(), req.Passages, acc.tokens, acc.margins, acc.complete), acc.tokens, nil
}

// accumulator gathers a completion as it arrives.
type accumulator struct {
	onToken   func(models.Token) error
	text      strings.Builder
	tokens    []models.Token
	margins   []float64
	done      bool // a finish reason or the end marker arrived
	complete  bool // the model stopped by itself, not at the token cap
	callerErr error
}

// errCaller stops reading when onToken failed; callerErr holds its error.
var errCaller = errors.New("stopped by the token callback")

func (a *accumulator) emit(t models.Token) error {
	a.tokens = append(a.tokens, t)
	if a.onToken == nil {
		return nil
	}
	if err := a.onToken(t); err != nil {
		a.callerErr = err
		return errCaller
	}
	return nil
}

// add takes one choice's text and tokens. Tokens come from the log
// probabilities when the server sent them (one per token, with its
// probability), else the text arrives as one token without one.
func (a *accumulator) add(content string, lps []logprob, finish *string) error {
	a.text.WriteString(content)
	if len(lps) == 0 && content != "" {
		if err := a.emit(models.Token{Text: content}); err != nil {
			return err
		}
	}
	for _, lp := range lps {
		alts := make([]ollama.Alternative, len(lp.TopLogprobs))
		for i, t := range lp.TopLogprobs {
			alts[i] = ollama.Alternative{Token: t.Token, Logprob: t.Logprob}
		}
		if m, ok := ollama.TopMargin(lp.Token, lp.Logprob, alts); ok {
			a.margins = append(a.margins, m)
		}
		if err := a.emit(models.Token{Text: lp.Token, Logprob: lp.Logprob, HasLogprob: true}); err != nil {
			return err
		}
	}
	if finish != nil && *finish != "" {
		a.done = true
		// "stop" is the API's word; "eos"/"eos_token" are TGI's.
		switch *finish {
		case "stop", "eos", "eos_token":
			a.complete = true
		}
	}
	return nil
}

// maxEvent bounds one server-sent event; a chunk carries a few tokens, so
// anything near this is not a completion stream.
const maxEvent = 1 << 20

// stream reads server-sent events until "[DONE]" or the end of the body.
func (a *accumulator) stream(body io.Reader) error {
	events := newEventReader(body)
	for {
		data, err := events.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Equal(data, []byte("[DONE]")) {
			a.done = true
			return nil
		}
		var ch chunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return fmt.Errorf("undecodable stream event %q: %w", clip(data), err)
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			return fmt.Errorf("the server reported mid-stream: %s", errorMessage(data))
		}
		for _, choice := range ch.Choices {
			if choice.Index != 0 {
				continue // one answer was asked for
			}
			var lps []logprob
			if choice.Logprobs != nil {
				lps = choice.Logprobs.Content
			}
			if err := a.add(choice.Delta.Content, lps, choice.FinishReason); err != nil {
				return err
			}
		}
	}
}

// whole reads one non-streamed completion.
func (a *accumulator) whole(body io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(body, maxEvent+1))
	if err != nil {
		return fmt.Errorf("read the completion: %w", err)
	}
	if len(b) > maxEvent {
		return fmt.Errorf("the completion is over %d bytes; not an answer to this request", maxEvent)
	}
	var ch chunk
	if err := json.Unmarshal(b, &ch); err != nil {
		return fmt.Errorf("undecodable completion %q: %w", clip(b), err)
	}
	if len(ch.Choices) == 0 {
		return fmt.Errorf("the completion has no choices: %q", clip(b))
	}
	c := ch.Choices[0]
	var lps []logprob
	if c.Logprobs != nil {
		lps = c.Logprobs.Content
	}
	done := "stop"
	if c.FinishReason == nil {
		c.FinishReason = &done
	}
	return a.add(c.Message.Content, lps, c.FinishReason)
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// eventReader splits a text/event-stream into the data of its events.
type eventReader struct {
	r *bufio.Reader
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the data of the next event with data (its data lines joined
// by "\n"), io.EOF at the end of the stream. Comments, event names, ids and
// retry fields are skipped: the API gives them no meaning.
func (e *eventReader) next() ([]byte, error) {
	var data []byte
	has := false
	for {
		line, err := e.line()
		if err != nil {
			if errors.Is(err, io.EOF) && has {
				return data, nil // the last event lacked its blank line
			}
			return nil, err
		}
		if len(line) == 0 {
			if has {
				return data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if has {
			data = append(data, '\n')
		}
		if len(data)+len(value) > maxEvent {
			return nil, fmt.Errorf("a stream event is over %d bytes; not a completion stream", maxEvent)
		}
		data = append(data, value...)
		has = true
	}
}

// line reads one line without its ending ("\n", "\r\n" or a lone "\r" is
// not split on: the API never sends one).
func (e *eventReader) line() ([]byte, error) {
	var line []byte
	for {
		part, isPrefix, err := e.r.ReadLine()
		if err != nil {
			return nil, err
		}
		if len(line)+len(part) > maxEvent {
			return nil, fmt.Errorf("a stream line is over %d bytes; not a completion stream", maxEvent)
		}
		line = append(line, part...)
		if !isPrefix {
			return line, nil
		}
	}
}
