package authz

import (
	"context"
	"errors"
	"net/http"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// This file is the one place that turns errors into HTTP answers. OAuth
// endpoints answer RFC 6749 JSON errors, the admin API
// {"error","error_description"}; neither ever shows internal detail. An
// unexpected error is logged with the request ID and answered with a fixed
// server_error.

// logFosite logs an error fosite answered with.
func (s *Server) logFosite(ctx context.Context, endpoint string, err error) {
	web.LogFosite(ctx, s.log, endpoint, err)
}

// writeFositeJSON writes a fosite error as a plain RFC 6749 answer (for
// endpoints whose fosite writer does not suit).
func writeFositeJSON(w http.ResponseWriter, err error) {
	clientauth.SetRetryAfter(w, err)
	rfc := fosite.ErrorToRFC6749Error(err)
	desc := rfc.GetDescription()
	if rfc.CodeField >= 500 {
		desc = "The server met an unexpected condition."
	}
	web.WriteError(w, rfc.CodeField, rfc.ErrorField, desc)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

func badRequest(desc string) *web.Error {
	return web.NewError(http.StatusBadRequest, "invalid_request", desc)
}

func invalidMetadata(desc string) *web.Error {
	return web.NewError(http.StatusBadRequest, "invalid_client_metadata", desc)
}

// writeAdminError answers err: a *web.Error as it says, a storage
// sentinel with its status, anything else with a logged 500.
func (s *Server) writeAdminError(w http.ResponseWriter, r *http.Request, err error) {
	var we *web.Error
	switch {
	case errors.As(err, &we):
		if we.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth-admin"`)
		}
		we.Write(w)
	case errors.Is(err, storage.ErrNotFound):
		web.WriteError(w, http.StatusNotFound, "not_found", "No such resource.")
	case errors.Is(err, storage.ErrAlreadyExists):
		web.WriteError(w, http.StatusConflict, "already_exists", "A resource with this identifier exists already.")
	case errors.Is(err, storage.ErrConflict):
		web.WriteError(w, http.StatusConflict, "conflict", "The change conflicts with another one; retry.")
	default:
		s.log.Error("admin request failed", zap.String("request_id", web.RequestID(r.Context())), zap.String("path", r.URL.Path), zap.Error(err))
		web.WriteError(w, http.StatusInternalServerError, "server_error", "The server met an unexpected condition.")
	}
}
