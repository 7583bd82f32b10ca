package enroll

import (
	"context"
	"net/http"

	"github.com/edgerag/edgerag/node/api"
)

// Admin calls central's enrollment routes through its API client, as an
// admin's 'edgerag cert enroll-token|revoke|list' does. (The routes' types
// live here, and this package imports node/api, so the calls are here
// rather than methods of api.Client.)
type Admin struct{ Client *api.Client }

// Token makes a one-time enrollment token.
func (a Admin) Token(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	var r TokenResponse
	err := a.Client.Call(ctx, http.MethodPost, PathTokens, req, &r)
	return r, err
}

// Revoke revokes every certificate issued to name until now.
func (a Admin) Revoke(ctx context.Context, name string) (RevokeResponse, error) {
	var r RevokeResponse
	err := a.Client.Call(ctx, http.MethodPost, PathRevoke, RevokeRequest{Name: name}, &r)
	return r, err
}

// List lists the certificates central issued and the revocations.
func (a Admin) List(ctx context.Context) (Listing, error) {
	var r Listing
	err := a.Client.Call(ctx, http.MethodGet, PathList, nil, &r)
	return r, err
}
