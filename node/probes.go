package node

import (
	"context"

	"github.com/edgerag/edgerag/node/api"
)

// AnswerProbe answers one question of a shard's probe set from that shard
// alone, the way the node answers a question itself (retrieval, its own
// answerer, confidence and abstention) but never asking a peer or central:
// a canary measures the version it holds, and central records its trusted
// answer to an operator's probe. It returns the documents cited, best
// first, and whether it abstained. Probes are not user queries: they leave
// the query metrics and the recent-queries list alone.
func (n *Node) AnswerProbe(ctx context.Context, shardName, question string) (docs []string, abstained bool, err error) {
	resp, _, _, err := n.answerLocal(ctx, api.QueryRequest{Question: question, Shard: shardName, K: defaultK}, nil, false)
	if err != nil {
		return nil, false, err
	}
	return docIDs(resp.Citations), resp.Abstained, nil
}
