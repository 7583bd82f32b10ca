package agent

import (
	"context"
	"slices"
	"testing"

	"github.com/edgerag/edgerag/models/ollama"
	"github.com/edgerag/edgerag/node"
)

// TestGossipAnnouncesCurrentModels: the models a node announces follow a
// switch made while it runs (fleet sync shipping a new model), not the
// flags it started with. No server is needed: a client names its model
// without asking.
func TestGossipAnnouncesCurrentModels(t *testing.T) {
	client := func(model string) *ollama.Client {
		c, err := ollama.New(ollama.Config{Host: "127.0.0.1:1", GenModel: model})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	n, err := node.New(node.Config{DataDir: t.TempDir(), NoSync: true, Generator: client("tiny-gen").Generator()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := nodeModels(n); !slices.Equal(got, []string{"tiny-gen:latest"}) {
		t.Fatalf("at start: %q", got)
	}
	if err := n.SetGenerator(client("tiny-gen-2").Generator()); err != nil {
		t.Fatal(err)
	}
	if got := nodeModels(n); !slices.Equal(got, []string{"tiny-gen-2:latest"}) {
		t.Fatalf("after the switch the node announces %q", got)
	}
}
