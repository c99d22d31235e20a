package operators

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Result is a route's answer and the change it made, for the admin API's
// wrapper to audit and write.
type Result struct {
	Status int
	// Body is answered as JSON.
	Body any
	// Event, Subject and Details describe the change for the audit
	// trail; Event "" for a read.
	Event   string
	Subject string
	Details map[string]string
}

// Route serves one path: it returns its answer or an error (a
// *web.Error, a storage sentinel, or anything else: a 500).
type Route func(w http.ResponseWriter, r *http.Request) (Result, error)

// Config configures a Handler.
type Config struct {
	Store Store
	// BaseURL is where operators reach the admin listener, for the
	// enrollment links; if empty, http:// and the request's Host.
	BaseURL string
	// SignOuts, if set, ends an operator's sign-ins when their second
	// factor is reset or they are disabled: console sessions, and the
	// grants of the built-in clients (idvauth login), so that re-enabling
	// them or a new second factor revives nothing.
	SignOuts SignOuts
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// SignOuts ends operators' sign-ins; storage.Store is one.
type SignOuts interface {
	DeleteOperatorSessions(ctx context.Context, operatorID string) (int, error)
	ListTokensBySubject(ctx context.Context, subject string) ([]storage.Token, error)
	RevokeRequest(ctx context.Context, kind storage.TokenKind, requestID string) error
}

// signOut ends the sign-ins of the operator id (Config.SignOuts).
func (h *Handler) signOut(ctx context.Context, id string) error {
	if h.cfg.SignOuts == nil {
		return nil
	}
	if _, err := h.cfg.SignOuts.DeleteOperatorSessions(ctx, id); err != nil {
		return err
	}
	toks, err := h.cfg.SignOuts.ListTokensBySubject(ctx, id)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if !IsBuiltin(t.ClientID) {
			continue
		}
		for _, kind := range []storage.TokenKind{storage.AccessToken, storage.RefreshToken} {
			if err := h.cfg.SignOuts.RevokeRequest(ctx, kind, t.RequestID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Handler serves /admin/operators. It is safe for concurrent use.
type Handler struct{ cfg Config }

// New returns a handler of cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("operators: a store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}, nil
}

// Routes returns the routes of h by pattern. h may be nil to learn the
// patterns (the routes then must not be called).
func Routes(h *Handler) map[string]Route {
	return map[string]Route{
		"/admin/operators":                h.list,
		"/admin/operators/{id}":           h.one,
		"/admin/operators/{id}/mfa/reset": h.mfaReset,
	}
}

func (h *Handler) now() time.Time { return h.cfg.Now().UTC().Truncate(time.Second) }

func (h *Handler) base(r *http.Request) string {
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL
	}
	return "http://" + r.Host
}

func methodNotAllowed(w http.ResponseWriter, allow string) (Result, error) {
	w.Header().Set("Allow", allow)
	return Result{}, web.NewError(http.StatusMethodNotAllowed, "method_not_allowed", "Allowed methods: "+allow+".")
}

func invalid(err error) error {
	return web.NewError(http.StatusBadRequest, "invalid_request", err.Error())
}

// list serves GET and POST /admin/operators.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) (Result, error) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		all, err := h.cfg.Store.ListOperators(ctx)
		if err != nil {
			return Result{}, err
		}
		out := adminapi.OperatorList{Operators: make([]adminapi.OperatorJSON, 0, len(all))}
		for _, o := range all {
			out.Operators = append(out.Operators, JSON(o))
		}
		return Result{Status: http.StatusOK, Body: out}, nil
	case http.MethodPost:
		var in adminapi.OperatorInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return Result{}, err
		}
		o, token, err := Create(ctx, h.cfg.Store, in.Username, in.Role, h.now())
		if errors.Is(err, ErrInvalid) {
			return Result{}, invalid(err)
		}
		if err != nil {
			return Result{}, err
		}
		w.Header().Set("Location", "/admin/operators/"+o.ID)
		return Result{Status: http.StatusCreated, Body: EnrollmentJSON(o, h.base(r), token),
			Event: adminapi.EventOperatorCreated, Subject: o.ID, Details: map[string]string{"role": o.Role}}, nil
	}
	return methodNotAllowed(w, "GET, POST")
}

// one serves GET and PUT /admin/operators/{id}.
func (h *Handler) one(w http.ResponseWriter, r *http.Request) (Result, error) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		o, err := h.cfg.Store.GetOperator(ctx, r.PathValue("id"))
		if err != nil {
			return Result{}, err
		}
		return Result{Status: http.StatusOK, Body: JSON(o)}, nil
	case http.MethodPut:
		var in adminapi.OperatorUpdate
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return Result{}, err
		}
		if in.Role == nil && in.Disabled == nil {
			return Result{}, web.NewError(http.StatusBadRequest, "invalid_request", "Give role, disabled or both.")
		}
		if in.Role != nil {
			if err := CheckRole(*in.Role); err != nil {
				return Result{}, invalid(err)
			}
		}
		o, err := h.cfg.Store.GetOperator(ctx, r.PathValue("id"))
		if err != nil {
			return Result{}, err
		}
		details := map[string]string{"old_role": o.Role}
		next := o
		if in.Role != nil {
			next.Role = *in.Role
		}
		if in.Disabled != nil {
			next.Disabled = *in.Disabled
		}
		// One step that keeps an enabled owner: two owners demoting each
		// other at once leave one.
		err = h.cfg.Store.SetOperatorAccess(ctx, o.ID, next.Role, next.Disabled, h.now())
		if errors.Is(err, storage.ErrConflict) {
			return Result{}, errLastOwner
		} else if err != nil {
			return Result{}, err
		}
		next.UpdatedAt = h.now()
		if next.Disabled && !o.Disabled {
			if err := h.signOut(ctx, o.ID); err != nil {
				return Result{}, err
			}
		}
		details["role"] = next.Role
		details["disabled"] = boolText(next.Disabled)
		return Result{Status: http.StatusOK, Body: JSON(next), Event: adminapi.EventOperatorUpdated, Subject: o.ID, Details: details}, nil
	}
	return methodNotAllowed(w, "GET, PUT")
}

// mfaReset serves POST /admin/operators/{id}/mfa/reset: the second
// factor goes, and a new enrollment link replaces any pending one.
func (h *Handler) mfaReset(w http.ResponseWriter, r *http.Request) (Result, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	ctx := r.Context()
	o, err := h.cfg.Store.GetOperator(ctx, r.PathValue("id"))
	if err != nil {
		return Result{}, err
	}
	now := h.now()
	o.PasswordHash, o.TOTPSecret, o.TOTPCounter, o.UpdatedAt = "", nil, 0, now
	token := startEnrollment(&o, now)
	// The credentials alone: a role change or a disable made since the
	// read above stays.
	if err := h.cfg.Store.SetOperatorCredentials(ctx, o.ID, storage.OperatorCredentials{
		EnrollmentDigest: o.EnrollmentDigest, EnrollmentExpiresAt: o.EnrollmentExpiresAt}, nil, now); err != nil {
		return Result{}, err
	}
	if err := h.signOut(ctx, o.ID); err != nil {
		return Result{}, err
	}
	return Result{Status: http.StatusOK, Body: EnrollmentJSON(o, h.base(r), token), Event: adminapi.EventOperatorMFAReset, Subject: o.ID}, nil
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
