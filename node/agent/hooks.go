package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/edgerag/edgerag/sync/fleet"
	"github.com/edgerag/edgerag/sync/transport"
)

// Hooks are ways into a running agent for whoever embeds it: the test
// harness (node/nodetest) injects faults and counts traffic through them,
// so that fault tests run the same daemon the binary does. Each is
// harmless left zero, and the command sets none.
type Hooks struct {
	// WrapDispatch, when set, wraps the QUIC dispatcher: the returned
	// handler answers every request from another node, calling next for
	// the agent's own answer (to hold a request, rewrite a response, count
	// what was served, or answer in place of the agent).
	WrapDispatch func(next transport.Handler) transport.Handler
	// PacketConn, when set, is the UDP socket the QUIC endpoint serves on,
	// instead of one bound to Fleet.QUICAddr (a socket that counts or
	// drops datagrams). The caller closes it after the agent.
	PacketConn net.PacketConn
}

// listenQUIC opens the node's QUIC endpoint on Fleet.QUICAddr, or on
// Hooks.PacketConn, serving the dispatcher.
func (l *fleetLink) listenQUIC(ctx context.Context, c Config, cfg transport.Config) (*transport.Server, error) {
	h := transport.Handler(l.dispatch)
	if c.Hooks.WrapDispatch != nil {
		h = c.Hooks.WrapDispatch(h)
	}
	if c.Hooks.PacketConn != nil {
		return transport.ListenPacket(ctx, c.Hooks.PacketConn, cfg, h)
	}
	return transport.Listen(ctx, c.Fleet.QUICAddr, cfg, h)
}

// CloseQUIC closes the QUIC endpoint alone, while the node and its HTTP API
// stay up: to other nodes it is gone, as behind a failed link. Close
// closes it too.
func (a *Agent) CloseQUIC() error {
	if a.link == nil || a.link.server == nil {
		return errors.New("agent: no QUIC endpoint to close")
	}
	if err := a.link.server.Close(); err != nil {
		return fmt.Errorf("close QUIC: %w", err)
	}
	return nil
}

// Publisher is central's fleet-sync publisher; nil on an edge or before
// Start.
func (a *Agent) Publisher() *fleet.Publisher {
	if a.sync == nil {
		return nil
	}
	return a.sync.pub
}

// Syncer is an edge's fleet-sync syncer, running in the background; nil
// on central, without fleet sync, or before Start.
func (a *Agent) Syncer() *fleet.Syncer {
	if a.sync == nil {
		return nil
	}
	return a.sync.syncer
}

// Config is the config the agent runs, its defaults filled in: what a
// harness restarts it from.
func (a *Agent) Config() Config { return a.cfg }
