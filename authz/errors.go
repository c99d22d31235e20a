package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/storage"
)

// This file is the one place that turns errors into HTTP answers. OAuth
// endpoints answer RFC 6749 JSON errors, the admin API
// {"error","error_description"}; neither ever shows internal detail. An
// unexpected error is logged with the request ID and answered with a fixed
// server_error.

// oauthError is an RFC 6749 error answer.
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func newOAuthError(status int, code, desc string) *oauthError {
	return &oauthError{Status: status, Code: code, Description: desc}
}

// writeJSONError writes {"error","error_description"} with status. OAuth
// and admin errors share the shape.
func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Basic realm="idvauth"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(oauthError{Code: code, Description: desc})
}

func (e *oauthError) write(w http.ResponseWriter) {
	writeJSONError(w, e.Status, e.Code, e.Description)
}

// logFosite logs an error fosite answered with: server errors at error
// level with their wrapped cause, the rest at debug.
func (s *Server) logFosite(ctx context.Context, endpoint string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		s.log.Error("request failed", zap.String("endpoint", endpoint), zap.String("request_id", requestID(ctx)),
			zap.String("error", rfc.ErrorField), zap.String("cause", rfc.GetDescription()+" "+rfc.DebugField), zap.NamedError("wrapped", rfc.Unwrap()))
		return
	}
	if ce := s.log.Check(zap.DebugLevel, "request refused"); ce != nil {
		ce.Write(zap.String("endpoint", endpoint), zap.String("request_id", requestID(ctx)), zap.String("error", rfc.ErrorField))
	}
}

// writeFositeJSON writes a fosite error as a plain RFC 6749 answer (for
// endpoints whose fosite writer does not suit).
func writeFositeJSON(w http.ResponseWriter, err error) {
	setRetryAfter(w, err)
	rfc := fosite.ErrorToRFC6749Error(err)
	desc := rfc.GetDescription()
	if rfc.CodeField >= 500 {
		desc = "The server met an unexpected condition."
	}
	writeJSONError(w, rfc.CodeField, rfc.ErrorField, desc)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// adminError is an error answer of the admin API.
type adminError struct {
	status int
	code   string
	desc   string
}

func (e *adminError) Error() string { return e.code + ": " + e.desc }

func badRequest(desc string) *adminError {
	return &adminError{http.StatusBadRequest, "invalid_request", desc}
}

func invalidMetadata(desc string) *adminError {
	return &adminError{http.StatusBadRequest, "invalid_client_metadata", desc}
}

// writeAdminError answers err: an *adminError as it says, a storage
// sentinel with its status, anything else with a logged 500.
func (s *Server) writeAdminError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *adminError
	switch {
	case errors.As(err, &ae):
		if ae.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth-admin"`)
		}
		writeJSONError(w, ae.status, ae.code, ae.desc)
	case errors.Is(err, storage.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, "not_found", "No such resource.")
	case errors.Is(err, storage.ErrAlreadyExists):
		writeJSONError(w, http.StatusConflict, "already_exists", "A resource with this identifier exists already.")
	case errors.Is(err, storage.ErrConflict):
		writeJSONError(w, http.StatusConflict, "conflict", "The change conflicts with another one; retry.")
	default:
		s.log.Error("admin request failed", zap.String("request_id", requestID(r.Context())), zap.String("path", r.URL.Path), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "server_error", "The server met an unexpected condition.")
	}
}
