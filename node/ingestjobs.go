package node

import (
	"context"

	"github.com/edgerag/edgerag/node/api"
	"github.com/edgerag/edgerag/node/jobs"
)

// startJobs opens the ingest job queue on the store, takes up the jobs a
// previous run acknowledged, and starts its worker.
func (n *Node) startJobs(ctx, bg context.Context) error {
	n.jobs = jobs.New(n.store, n.Ingest, jobs.Options{Logger: n.log, Now: n.cfg.Now})
	if err := n.jobs.Recover(ctx); err != nil {
		return err
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.jobs.Run(bg)
	}()
	return nil
}

// SubmitIngest implements api.AsyncIngester: it checks the documents now,
// with the caller's rights, so that a 202 never hides a 400, and returns
// once they are stored durably as a job.
func (n *Node) SubmitIngest(ctx context.Context, docs []api.Document) (api.Job, error) {
	if !n.Ready() || n.jobs == nil {
		return api.Job{}, errorf(ErrNotReady, "the node is still loading its index")
	}
	if _, _, err := n.checkDocs(ctx, docs); err != nil {
		return api.Job{}, err
	}
	j, err := n.jobs.Submit(ctx, docs)
	return j, storageErr(err)
}

// Job implements api.AsyncIngester.
func (n *Node) Job(_ context.Context, id string) (api.Job, error) {
	if n.jobs == nil {
		return api.Job{}, errorf(ErrNotReady, "the node is still loading its index")
	}
	return n.jobs.Job(id)
}
