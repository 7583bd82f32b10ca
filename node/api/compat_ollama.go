package api

// Ollama's API: what `ollama run|list|show|ps`, the ollama libraries and
// Open WebUI call. Shapes follow Ollama 0.24's api package; durations are
// nanoseconds, as there.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func registerOllama(h *Handler, started time.Time) {
	h.mux.HandleFunc("POST /api/chat", h.ollamaChat)
	h.mux.HandleFunc("POST /api/generate", h.ollamaGenerate)
	h.mux.HandleFunc("POST /api/show", func(w http.ResponseWriter, r *http.Request) { h.ollamaShow(w, r, started) })
	h.mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, r *http.Request) { h.ollamaPS(w, r) })
	h.mux.HandleFunc("POST /api/embed", h.ollamaEmbed)
	h.mux.HandleFunc("POST /api/embeddings", h.ollamaEmbeddings)
	h.mux.HandleFunc("POST /api/pull", h.ollamaPull)
	h.mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, ollamaTags{Models: []ollamaModel{{
			// Ollama lists names with a tag; clients that check the
			// model they are configured with against this list accept
			// both "edgerag" and "edgerag:latest" this way.
			Name: CompatModel + ":latest", Model: CompatModel + ":latest", ModifiedAt: started,
			Digest: compatDigest, Details: ragDetails(),
		}}})
	})
	h.mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		// Open WebUI checks a connection with this call; it displays the
		// version but needs nothing from it, so a failing Status still
		// answers rather than marking the connection broken.
		v := "0.0.0"
		if st, err := h.svc.Status(r.Context()); err == nil && st.Version != "" {
			v = st.Version
		}
		WriteJSON(w, http.StatusOK, map[string]string{"version": v})
	})
}

type ollamaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ollamaReply is one /api/chat (Message set) or /api/generate (Response
// set) response object, or one line of a stream.
type ollamaReply struct {
	Model              string         `json:"model"`
	CreatedAt          time.Time      `json:"created_at"`
	Message            *ollamaMessage `json:"message,omitempty"`
	Response           *string        `json:"response,omitempty"`
	Done               bool           `json:"done"`
	DoneReason         string         `json:"done_reason,omitempty"`
	TotalDuration      int64          `json:"total_duration,omitempty"`
	PromptEvalCount    int            `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64          `json:"prompt_eval_duration,omitempty"`
	EvalCount          int            `json:"eval_count,omitempty"`
	EvalDuration       int64          `json:"eval_duration,omitempty"`
	Citations          []Citation     `json:"citations,omitzero"`
	EdgeRAG            *chatMeta      `json:"edgerag,omitempty"`
}

// with returns a copy of r carrying text, stamped now.
func (r ollamaReply) with(text string) ollamaReply {
	r.CreatedAt = time.Now().UTC()
	if r.Message != nil {
		m := *r.Message
		m.Content = text
		r.Message = &m
	} else {
		r.Response = &text
	}
	return r
}

type ollamaTags struct {
	Models []ollamaModel `json:"models"`
}

type ollamaModel struct {
	Name       string             `json:"name"`
	Model      string             `json:"model"`
	ModifiedAt time.Time          `json:"modified_at"`
	Size       int64              `json:"size"`
	Digest     string             `json:"digest"`
	Details    ollamaModelDetails `json:"details"`
}

type ollamaModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func ragDetails() ollamaModelDetails {
	return ollamaModelDetails{Format: "edgerag", Family: CompatModel, Families: []string{CompatModel}}
}

// writeOllamaError writes {"error":"message"}: Ollama's clients read the
// error as a string, so the native {"code","message"} object would reach
// users as a decoding failure instead of the message.
func writeOllamaError(w http.ResponseWriter, e *Error) {
	WriteJSON(w, e.Status, map[string]string{"error": e.Message})
}

// ollamaRefuse refuses the Ollama options that would change what the
// client gets back, rather than ignoring them.
func ollamaRefuse(f compatFields) *Error {
	switch {
	case present(f.Tools):
		return badRequest(`"tools": edgerag answers from the node's documents and does not call tools; remove "tools"`)
	case present(f.Format):
		return badRequest(`"format" %s: edgerag answers in text with citations and cannot promise JSON; remove "format"`, f.Format)
	case present(f.Think):
		return badRequest(`"think": edgerag does not produce a separate thinking trace; remove "think" or set it to false`)
	case present(f.Images):
		return badRequest(`"images": edgerag answers from text documents; remove "images"`)
	case present(f.Suffix):
		return badRequest(`"suffix": edgerag answers questions and does not fill in text; remove "suffix"`)
	}
	return nil
}

func parseOllamaChat(body []byte) (chatRequest, *Error) {
	req, e := parseChatRequest(body)
	if e == nil {
		e = ollamaRefuse(req.Fields)
	}
	if e == nil {
		// Ollama carries images on each message.
		var msgs []struct {
			Images json.RawMessage `json:"images"`
		}
		_ = json.Unmarshal(req.Fields.Messages, &msgs)
		for i, m := range msgs {
			if present(m.Images) {
				return chatRequest{}, badRequest(`messages[%d].images: edgerag answers from text documents; remove "images"`, i)
			}
		}
	}
	return req, e
}

// parseOllamaGenerate reads /api/generate. The system prompt, like a
// chat's, is not used (see followUpQuestion). An empty prompt is how the
// Ollama CLI asks for a model to be loaded: req.Question stays "".
func parseOllamaGenerate(body []byte) (chatRequest, *Error) {
	f, e := decodeCompat(body, `{"model":"`+CompatModel+`","prompt":"your question"}`)
	if e != nil {
		return chatRequest{}, e
	}
	prompt, e := stringField(f.Prompt, "prompt")
	if e != nil {
		return chatRequest{}, e
	}
	if _, e := stringField(f.System, "system"); e != nil {
		return chatRequest{}, e
	}
	if e := ollamaRefuse(f); e != nil {
		return chatRequest{}, e
	}
	if strings.TrimSpace(prompt) == "" {
		req := chatRequest{Fields: f}
		if req.Model, e = parseModel(f.Model, "model"); e != nil {
			return chatRequest{}, e
		}
		return req, nil
	}
	return promptRequest(f, prompt)
}

// ollamaChat serves POST /api/chat. As in Ollama, a request streams unless
// it says "stream": false.
func (h *Handler) ollamaChat(w http.ResponseWriter, r *http.Request) {
	fail := func(e *Error) { writeOllamaError(w, e) }
	req, q, ok := h.compatQuery(w, r, fail, parseOllamaChat)
	if !ok {
		return
	}
	h.ollamaAnswer(w, r, req, q, ollamaReply{Model: req.Model, Message: &ollamaMessage{Role: "assistant"}})
}

// ollamaGenerate serves POST /api/generate: a prompt answered as a one-turn
// chat, which is what `ollama run MODEL "question"` sends.
func (h *Handler) ollamaGenerate(w http.ResponseWriter, r *http.Request) {
	body, e := readChatBody(w, r)
	var req chatRequest
	if e == nil {
		req, e = parseOllamaGenerate(body)
	}
	if e == nil && req.Question == "" {
		// A load request: there is nothing to load, the node is serving.
		if e = h.answerModel(r.Context(), req.Model); e == nil {
			empty := ""
			WriteJSON(w, http.StatusOK, ollamaReply{Model: req.Model, CreatedAt: time.Now().UTC(), Response: &empty, Done: true, DoneReason: "load"})
			return
		}
	}
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	if e := h.answerModel(r.Context(), req.Model); e != nil {
		writeOllamaError(w, e)
		return
	}
	q := QueryRequest{Question: req.Question}
	if err := ValidateQuery(&q); err != nil {
		writeOllamaError(w, AsError(err))
		return
	}
	empty := ""
	h.ollamaAnswer(w, r, req, q, ollamaReply{Model: req.Model, Response: &empty})
}

// ollamaDone fills in the final object of an answer. Retrieval is reported
// as prompt evaluation and answering as evaluation, the nearest Ollama
// phases, so UIs computing a speed get a sensible one.
func ollamaDone(out ollamaReply, resp QueryResponse, req chatRequest, completion string) ollamaReply {
	out.Done, out.DoneReason = true, "stop"
	out.TotalDuration = int64(resp.Timings.TotalMS * 1e6)
	out.PromptEvalCount, out.PromptEvalDuration = promptWords(req), int64(resp.Timings.RetrieveMS*1e6)
	out.EvalCount, out.EvalDuration = words(completion), int64(resp.Timings.AnswerMS*1e6)
	out.Citations, out.EdgeRAG = citationsOf(resp), metaOf(resp)
	return out
}

// ollamaAnswer answers q in Ollama's shape, base giving the kind of reply.
func (h *Handler) ollamaAnswer(w http.ResponseWriter, r *http.Request, req chatRequest, q QueryRequest, base ollamaReply) {
	if req.Stream != nil && !*req.Stream {
		resp, _, err := h.ask(r.Context(), q, nil)
		if err != nil {
			writeOllamaError(w, AsError(err))
			return
		}
		text := joinText(resp.Answer, sourcesBlock(resp))
		WriteJSON(w, http.StatusOK, ollamaDone(base.with(text), resp, req, text))
		return
	}
	s := &chatStream{w: w}
	piece := func(text string) error { return s.send(base.with(text)) }
	resp, text, err := h.streamAnswer(r.Context(), q, piece)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone: nobody to tell
		}
		e := AsError(err)
		if !s.committed {
			writeOllamaError(w, e)
			return
		}
		// Ollama reports an error mid-stream as a line of its own.
		_ = s.send(map[string]string{"error": e.Message})
		return
	}
	_ = s.send(ollamaDone(base.with(""), resp, req, text))
}

// ollamaModelName reads the model a show or pull request names: "model",
// or the older "name" that Ollama's own CLI still sends (with an empty
// "model" beside it).
func ollamaModelName(f compatFields) (string, *Error) {
	name, e := stringField(f.Model, "model")
	if e == nil && name == "" {
		name, e = stringField(f.Name, "name")
	}
	if e == nil && name == "" {
		e = badRequest(`"model" is missing: send {"model":"%s"}`, CompatModel)
	}
	return name, e
}

// ollamaShowResponse is Ollama's /api/show answer, in the parts a node can
// fill in.
type ollamaShowResponse struct {
	Modelfile    string             `json:"modelfile"`
	Parameters   string             `json:"parameters"`
	Template     string             `json:"template"`
	Details      ollamaModelDetails `json:"details"`
	ModelInfo    map[string]any     `json:"model_info"`
	Capabilities []string           `json:"capabilities"`
	ModifiedAt   time.Time          `json:"modified_at"`
}

// ollamaShow serves POST /api/show, which `ollama run` calls first: the RAG
// model is described by what it is made of (the node, its retrieval, its
// local models), and each local model by what the node uses it for.
func (h *Handler) ollamaShow(w http.ResponseWriter, r *http.Request, started time.Time) {
	body, e := readChatBody(w, r)
	var f compatFields
	if e == nil {
		f, e = decodeCompat(body, `{"model":"`+CompatModel+`"}`)
	}
	name := ""
	if e == nil {
		name, e = ollamaModelName(f)
	}
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	locals := h.localModels(r.Context())
	if isRAGModel(name) {
		WriteJSON(w, http.StatusOK, h.showRAG(r, locals, started))
		return
	}
	for _, m := range locals {
		if sameModel(name, m.Name) {
			WriteJSON(w, http.StatusOK, ollamaShowResponse{
				Modelfile: fmt.Sprintf("# the %s model edgerag uses, on the node's Ollama server\nFROM %s\n", m.Use, m.Name),
				Details:   ollamaModelDetails{Format: "gguf", Families: []string{}},
				ModelInfo: map[string]any{"edgerag.use": m.Use}, Capabilities: []string{m.Capability}, ModifiedAt: started,
			})
			return
		}
	}
	writeOllamaError(w, modelNotFound(name))
}

func (h *Handler) showRAG(r *http.Request, locals []localModel, started time.Time) ollamaShowResponse {
	info := map[string]any{"general.architecture": CompatModel}
	var b strings.Builder
	b.WriteString("# edgerag: answers from this node's documents, with citations\n")
	if st, err := h.svc.Status(r.Context()); err == nil {
		info["edgerag.node"], info["edgerag.retrieval"], info["edgerag.answerer"] = st.Node, st.Retrieval, st.Answerer
		info["edgerag.documents"], info["edgerag.chunks"] = st.Documents, st.Chunks
		fmt.Fprintf(&b, "# node %s: %d documents, %s retrieval, answers by %s\n", st.Node, st.Documents, st.Retrieval, st.Answerer)
	}
	gen, emb := "none (extractive answers)", "none (BM25 retrieval)"
	for _, m := range locals {
		info["edgerag."+m.Use+"_model"] = m.Name
		if m.Use == "generation" {
			gen = m.Name
		} else {
			emb = m.Name
		}
	}
	fmt.Fprintf(&b, "# generation model: %s\n# embedding model: %s\nFROM %s\n", gen, emb, CompatModel)
	return ollamaShowResponse{
		Modelfile: b.String(), Details: ragDetails(), ModelInfo: info,
		Capabilities: []string{"completion"}, ModifiedAt: started,
	}
}

// ollamaRunning is one model of /api/ps.
type ollamaRunning struct {
	ollamaModel
	ExpiresAt     time.Time `json:"expires_at"`
	SizeVRAM      int64     `json:"size_vram"`
	ContextLength int       `json:"context_length"`
}

// ollamaPS serves GET /api/ps: the RAG model and the local models are
// loaded for as long as the node runs, so they never expire; Ollama's CLI
// shows a time this far ahead as "Forever".
func (h *Handler) ollamaPS(w http.ResponseWriter, r *http.Request) {
	forever := time.Now().UTC().AddDate(100, 0, 0)
	now := time.Now().UTC()
	models := []ollamaRunning{{
		ollamaModel: ollamaModel{Name: CompatModel + ":latest", Model: CompatModel + ":latest", ModifiedAt: now, Digest: compatDigest, Details: ragDetails()},
		ExpiresAt:   forever,
	}}
	for _, m := range h.localModels(r.Context()) {
		models = append(models, ollamaRunning{
			ollamaModel: ollamaModel{Name: m.Name, Model: m.Name, ModifiedAt: now, Digest: m.Digest, Details: ollamaModelDetails{Format: "gguf", Families: []string{}}},
			ExpiresAt:   forever,
		})
	}
	WriteJSON(w, http.StatusOK, map[string][]ollamaRunning{"models": models})
}

// ollamaEmbed serves POST /api/embed: {"model","input": string or
// [string]} → {"model","embeddings"}.
func (h *Handler) ollamaEmbed(w http.ResponseWriter, r *http.Request) {
	req, e := h.embedRequest(w, r, func(f compatFields) (json.RawMessage, string) { return f.Input, "input" })
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	res, e := h.embed(r.Context(), req)
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"model": req.Model, "embeddings": res.Vectors,
		"total_duration": res.Took.Nanoseconds(), "prompt_eval_count": res.Words,
	})
}

// ollamaEmbeddings serves POST /api/embeddings, Ollama's older call:
// {"model","prompt"} → {"embedding"}.
func (h *Handler) ollamaEmbeddings(w http.ResponseWriter, r *http.Request) {
	req, e := h.embedRequest(w, r, func(f compatFields) (json.RawMessage, string) { return f.Prompt, "prompt" })
	if e == nil && len(req.Texts) != 1 {
		e = badRequest(`"prompt" must be one string; use /api/embed for several texts`)
	}
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	res, e := h.embed(r.Context(), req)
	if e != nil {
		writeOllamaError(w, e)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"embedding": res.Vectors[0]})
}

// ollamaPull serves POST /api/pull, which `ollama run` calls for a model
// /api/show does not know: a node pulls nothing, so the RAG model is
// already there and any other is not found, in words the CLI prints.
func (h *Handler) ollamaPull(w http.ResponseWriter, r *http.Request) {
	body, e := readChatBody(w, r)
	var f compatFields
	if e == nil {
		f, e = decodeCompat(body, `{"model":"`+CompatModel+`"}`)
	}
	name := ""
	if e == nil {
		name, e = ollamaModelName(f)
	}
	switch {
	case e != nil:
		writeOllamaError(w, e)
	case isRAGModel(name):
		WriteJSON(w, http.StatusOK, map[string]string{"status": "success"})
	default:
		writeOllamaError(w, Errorf(http.StatusNotFound, codeModelNotFound,
			"model '%s' not found: an edgerag node does not pull models; it answers as the model %q", name, CompatModel))
	}
}
