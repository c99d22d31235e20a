// Package foureyes holds the sensitive admin calls for a second operator
// (four-eyes, IDVAUTH_FOUR_EYES=on): erasing a person, retiring a signing
// key with its tokens, granting the role owner or admin, and deleting a
// client. Such a call is answered 202 Accepted with a pending request
// instead of acting; another caller who holds the scope the call needs
// approves it within 24 hours (the call then runs once, as the approver)
// or rejects it. The one who asked can never approve their own request.
//
// The admin API asks Hold about every authorized call, so that no route
// can forget to; the routes of /admin/requests are served through the
// admin API's wrapper (authentication, scopes, audit) like its own.
package foureyes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/storage"
)

// DefaultTTL is how long a request waits for its second operator.
const DefaultTTL = 24 * time.Hour

// Store is what the package reads and writes: the requests, and the
// records a held call acts on (to answer 404 at once for a missing one
// rather than hold a call that cannot succeed).
type Store interface {
	storage.ApprovalStore
	GetUser(ctx context.Context, id string) (storage.User, error)
	GetClient(ctx context.Context, id string) (storage.Client, error)
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
}

// Keys is the key ring as this package reads it; *keys.Ring is one.
type Keys interface {
	Reload(ctx context.Context) error
	Records() []storage.Key
}

// Run runs the admin call of an approved request a as approver (who made
// the approving request r) and returns its answer's status and body. It
// must not hold the call again. admin.Handler.Replay is one.
type Run func(r *http.Request, approver adminauth.Principal, a storage.Approval) (status int, body []byte)

// Config configures a Service.
type Config struct {
	Store Store
	Keys  Keys
	// On holds the sensitive calls; off, they run at once, and the
	// routes still serve the requests made while it was on.
	On bool
	// Run runs an approved call. Required.
	Run Run
	// TTL is how long a request may be approved; DefaultTTL if zero.
	TTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives the package's logs; zap.NewNop if nil.
	Log *zap.Logger
}

// Service holds sensitive calls and serves /admin/requests. Build it with
// New; it is safe for concurrent use.
type Service struct{ cfg Config }

// New returns a service of cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Run == nil {
		return nil, errors.New("foureyes: incomplete configuration")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Service{cfg: cfg}, nil
}

// On reports whether s holds the sensitive calls.
func (s *Service) On() bool { return s.cfg.On }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

// held is what a sensitive call would do, as Hold found it.
type held struct {
	action, target string
	body           []byte
	details        map[string]string
}

// scopes is the scope that each action needs: the scope of the route it
// runs, which an approver must hold too.
var scopes = map[string]string{
	adminapi.ActionUserErase:     adminauth.PeopleErase,
	adminapi.ActionKeyRetire:     adminauth.KeysWrite,
	adminapi.ActionOperatorGrant: adminauth.OperatorsWrite,
	adminapi.ActionClientDelete:  adminauth.ClientsWrite,
}

// Hold decides whether the authorized call r of caller must wait for a
// second operator. If so it stores a pending request and returns the
// answer to give (202 and the request, audited as
// adminapi.EventRequestCreated) and true. It returns false, to let the
// call run now, when four-eyes is off, for a call that is not sensitive,
// and for one the route will refuse anyway (bad input, a missing target):
// the route then answers as without four-eyes. It may read r's body and
// leaves it for the route to read again.
func (s *Service) Hold(r *http.Request, caller adminauth.Principal) (operators.Result, bool, error) {
	if !s.cfg.On {
		return operators.Result{}, false, nil
	}
	h, ok, err := s.classify(r)
	if err != nil || !ok {
		return operators.Result{}, false, err
	}
	now := s.now()
	a := storage.Approval{
		ID: "req_" + web.Random(16), Action: h.action, Target: h.target, Method: r.Method, Path: r.URL.EscapedPath(), Body: h.body,
		RequestedBy: caller.Actor, CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL), State: storage.ApprovalPending,
	}
	if err := s.cfg.Store.CreateApproval(r.Context(), a); err != nil {
		return operators.Result{}, false, err
	}
	s.cfg.Log.Info("sensitive admin call held for a second operator", web.RequestField(r.Context()),
		zap.String("four_eyes_request", a.ID), zap.String("action", a.Action), zap.String("actor", a.RequestedBy))
	w := map[string]string{"four_eyes_request": a.ID, "action": a.Action, "target": a.Target}
	for k, v := range h.details {
		w[k] = v
	}
	return operators.Result{Status: http.StatusAccepted, Body: JSON(a), Event: adminapi.EventRequestCreated, Subject: a.Target, Details: w}, true, nil
}

// classify says which action the call r is, if it is a sensitive one
// that the route would carry out.
func (s *Service) classify(r *http.Request) (held, bool, error) {
	ctx := r.Context()
	switch r.Method + " " + r.Pattern {
	case "POST /admin/users/{id}/erase", "DELETE /admin/users/{id}":
		id := r.PathValue("id")
		return found(held{action: adminapi.ActionUserErase, target: id}, s.findUserRow(ctx, id))
	case "DELETE /admin/clients/{id}":
		id := r.PathValue("id")
		_, err := s.cfg.Store.GetClient(ctx, id)
		return found(held{action: adminapi.ActionClientDelete, target: id}, err)
	case "POST /admin/keys/{kid}/retire":
		var in adminapi.RetireKeyRequest
		if !peekJSON(r, &in) || !in.RevokeTokens {
			return held{}, false, nil
		}
		kid := r.PathValue("kid")
		found, err := s.keyExists(ctx, kid)
		if err != nil || !found {
			return held{}, false, err
		}
		return held{action: adminapi.ActionKeyRetire, target: kid, body: mustJSON(in)}, true, nil
	case "POST /admin/operators":
		var in adminapi.OperatorInput
		if !peekJSON(r, &in) || !grants(in.Role) || operators.CheckUsername(in.Username) != nil {
			return held{}, false, nil
		}
		return held{action: adminapi.ActionOperatorGrant, target: in.Username, body: mustJSON(in), details: map[string]string{"role": in.Role}}, true, nil
	case "PUT /admin/operators/{id}":
		var in adminapi.OperatorUpdate
		if !peekJSON(r, &in) {
			return held{}, false, nil
		}
		id := r.PathValue("id")
		o, err := s.cfg.Store.GetOperator(ctx, id)
		if err != nil {
			return found(held{}, err)
		}
		role := o.Role
		if in.Role != nil {
			role = *in.Role
		}
		// A grant: owner or admin rights to one who does not hold them
		// now, by a new role or by enabling a disabled operator.
		enables := in.Disabled != nil && !*in.Disabled && o.Disabled
		if !grants(role) || (role == o.Role && !enables) {
			return held{}, false, nil
		}
		return held{action: adminapi.ActionOperatorGrant, target: id, body: mustJSON(in), details: map[string]string{"role": role, "old_role": o.Role}}, true, nil
	case "POST /admin/operators/{id}/mfa/reset":
		// A new enrollment link of an owner or admin is their rights, to
		// whoever holds the link: it goes to the approver, not to the
		// requester.
		id := r.PathValue("id")
		o, err := s.cfg.Store.GetOperator(ctx, id)
		if err == nil && !grants(o.Role) {
			return held{}, false, nil
		}
		return found(held{action: adminapi.ActionOperatorGrant, target: id, details: map[string]string{"role": o.Role, "reset": "mfa"}}, err)
	}
	return held{}, false, nil
}

// grants reports whether giving role needs four eyes.
func grants(role string) bool { return role == adminauth.Owner || role == adminauth.Admin }

// found is h, held, if err, the error of the lookup of its target, is
// nil; a missing target is not held (the route answers its 404 at once).
func found(h held, err error) (held, bool, error) {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return held{}, false, nil
	case err != nil:
		return held{}, false, err
	}
	return h, true, nil
}

// rowFinder is a Store that finds a person's row even when their profile
// no longer opens (its data key erased): *seal.Store is one. An erasure
// of such a row is held like any other, not refused as a missing person.
type rowFinder interface {
	FindUserRow(ctx context.Context, id string) error
}

func (s *Service) findUserRow(ctx context.Context, id string) error {
	if rf, ok := s.cfg.Store.(rowFinder); ok {
		return rf.FindUserRow(ctx, id)
	}
	_, err := s.cfg.Store.GetUser(ctx, id)
	return err
}

func (s *Service) keyExists(ctx context.Context, kid string) (bool, error) {
	has := func() bool {
		for _, k := range s.cfg.Keys.Records() {
			if k.ID == kid {
				return true
			}
		}
		return false
	}
	if has() {
		return true, nil
	}
	if err := s.cfg.Keys.Reload(ctx); err != nil {
		return false, err
	}
	return has(), nil
}

// peekJSON decodes r's JSON body into v as the route will (unknown fields
// refused, at most web.MaxJSONBytes) and puts the body back for the route.
// False if the body is not such JSON: the route then refuses it.
func peekJSON(r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Body == nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, web.MaxJSONBytes+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
	if err != nil || len(b) > web.MaxJSONBytes {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v) == nil
}

// mustJSON is v, a request type of adminapi, as JSON.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("foureyes: " + err.Error()) // adminapi's request types always encode
	}
	return b
}

// JSON is a as the admin API shows it.
func JSON(a storage.Approval) adminapi.RequestJSON {
	out := adminapi.RequestJSON{ID: a.ID, Action: a.Action, Target: a.Target, Method: a.Method, Path: a.Path,
		RequestedBy: a.RequestedBy, CreatedAt: a.CreatedAt.Unix(), ExpiresAt: a.ExpiresAt.Unix(), State: a.State,
		DecidedBy: a.DecidedBy, Result: a.Result}
	if len(a.Body) > 0 {
		out.Body = json.RawMessage(a.Body)
	}
	if !a.DecidedAt.IsZero() {
		out.DecidedAt = a.DecidedAt.Unix()
	}
	return out
}
