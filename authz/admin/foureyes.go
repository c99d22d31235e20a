package admin

import (
	"bytes"
	"context"
	"net/http"

	"github.com/idvauth/idvauth/authz/foureyes"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// This file holds what the admin API does for four-eyes (authz/foureyes):
// it asks the gate about every authorized call, and runs the call of an
// approved request as its approver.

// gate is the four-eyes part of a Handler: who made a call (its
// credential's holder, or the approver of an approved request's call) and
// whether it is held.
type gate struct {
	auth     Authenticator
	fourEyes *foureyes.Service
	mux      *http.ServeMux
}

// replayKey marks the context of an approved request's call, which only
// Replay makes: it carries the approver and the request.
type replayKey struct{}

type replay struct {
	approver adminauth.Principal
	request  storage.Approval
}

// caller returns who made r: the approver of an approved request's call
// (and the request), or the holder of r's credential.
func (g gate) caller(r *http.Request) (adminauth.Principal, *storage.Approval, error) {
	if rp, ok := r.Context().Value(replayKey{}).(replay); ok {
		return rp.approver, &rp.request, nil
	}
	p, err := g.auth.Authenticate(r)
	return p, nil, err
}

// hold runs rt, unless the gate holds the call for a second operator; the
// call of an approved request is never held again.
func (g gate) hold(w http.ResponseWriter, r *http.Request, rt route, caller adminauth.Principal, approved *storage.Approval) (reply, error) {
	if approved == nil {
		res, held, err := g.fourEyes.Hold(r, caller)
		if err != nil {
			return reply{}, err
		}
		if held {
			return fromResult(res), nil
		}
	}
	return rt(w, r)
}

// withApproval adds to e, the entry of the call of the approved request
// a (nil: none), the request and who asked for it: the entry names both
// operators.
func withApproval(e storage.AuditEntry, a *storage.Approval) storage.AuditEntry {
	if a != nil {
		e.Details["four_eyes_request"], e.Details["requested_by"] = a.ID, a.RequestedBy
	}
	return e
}

// Replay returns what runs the call of an approved four-eyes request for
// h (foureyes.Config.Run takes it); see gate.replay.
func Replay(h *Handler) foureyes.Run { return h.gate.replay }

// replay runs the call of the approved four-eyes request a as approver,
// who made the approving request r: through the same route, checks and
// audit entry as a direct call (with approver's scopes, and a's ID and
// requester in the entry), never held again. It returns the status and
// body of the call's answer.
func (g gate) replay(r *http.Request, approver adminauth.Principal, a storage.Approval) (int, []byte) {
	ctx := context.WithValue(r.Context(), replayKey{}, replay{approver: approver, request: a})
	req, err := http.NewRequestWithContext(ctx, a.Method, a.Path, bytes.NewReader(a.Body))
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	// The approver's address, for the entry, and the host they called,
	// for the links the call builds (an enrollment link).
	req.RemoteAddr, req.Host = r.RemoteAddr, r.Host
	for _, k := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		if v, ok := r.Header[k]; ok {
			req.Header[k] = v
		}
	}
	if len(a.Body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := web.NewRecorder()
	g.mux.ServeHTTP(rec, req)
	return rec.Status(), rec.Body()
}
