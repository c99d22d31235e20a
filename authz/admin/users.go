package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/storage"
)

// Limits of user fields.
const (
	maxUserNameLen  = 200
	maxEmailLen     = 254
	userIDRawLength = 16 // bytes of randomness in a user ID
)

// usernamePattern: what people can type and we can show without escaping
// surprises; case matters nowhere (usernames are stored lower-case).
var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)

func userJSON(u storage.User) adminapi.UserJSON {
	return adminapi.UserJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email,
		CreatedAt: u.CreatedAt.Unix(), UpdatedAt: u.UpdatedAt.Unix()}
}

// validUser checks a new person's fields, password policy included, and
// returns the record to store (without ID, hash and times).
func validUser(in adminapi.UserInput) (storage.User, error) {
	u := storage.User{Username: login.NormalizeUsername(in.Username), Name: strings.TrimSpace(in.Name), Email: strings.TrimSpace(in.Email)}
	if err := checkProfile(u); err != nil {
		return u, err
	}
	if in.Password == "" {
		return u, badRequest("password is required")
	}
	if err := password.CheckPolicy(in.Password, u.Username, u.Email); err != nil {
		return u, web.NewError(http.StatusBadRequest, "weak_password", err.Error()+".")
	}
	return u, nil
}

// checkProfile checks a person's username (normalized), name and email
// (trimmed).
func checkProfile(u storage.User) error {
	if !usernamePattern.MatchString(u.Username) {
		return badRequest(fmt.Sprintf("username must be 1 to %d characters: letters, digits and . _ @ + - (starting with a letter or digit)", login.MaxUsernameLen))
	}
	if len(u.Name) > maxUserNameLen || !utf8.ValidString(u.Name) || strings.IndexFunc(u.Name, unicode.IsControl) >= 0 {
		return badRequest(fmt.Sprintf("name must be at most %d printable characters", maxUserNameLen))
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || a.Name != "" || len(u.Email) > maxEmailLen {
			return badRequest("email must be a plain address such as ada@example.com")
		}
	}
	return nil
}

// errHashBusy answers a new password that the hashing budget has no room
// for now: nothing was hashed or stored.
var errHashBusy = web.NewError(http.StatusServiceUnavailable, "temporarily_unavailable",
	"The server is busy hashing other passwords. Try again in a moment.")

// newUserID returns an opaque user ID: 128 random bits, base64url.
func newUserID() string { return "u_" + web.Random(userIDRawLength) }

// CreateUser registers a person. The password is checked against the
// policy and kept only as an argon2id hash.
func (h *Handler) CreateUser(ctx context.Context, in adminapi.UserInput) (adminapi.UserJSON, error) {
	u, err := validUser(in)
	if err != nil {
		return adminapi.UserJSON{}, err
	}
	u.ID = newUserID()
	if u.PasswordHash, err = h.cfg.Hasher.Hash(in.Password); err != nil {
		if errors.Is(err, password.ErrBusy) {
			return adminapi.UserJSON{}, errHashBusy
		}
		return adminapi.UserJSON{}, err
	}
	u.CreatedAt = h.now().Truncate(time.Second)
	u.UpdatedAt = u.CreatedAt
	if err := h.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return adminapi.UserJSON{}, web.NewError(http.StatusConflict, "already_exists", "A user with this username exists.")
		}
		return adminapi.UserJSON{}, err
	}
	return userJSON(u), nil
}

// users serves /admin/users: list (GET) and create (POST).
func (h *Handler) users(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		list, err := h.store.ListUsers(ctx)
		if err != nil {
			return reply{}, err
		}
		out := adminapi.UserList{Users: make([]adminapi.UserJSON, 0, len(list))}
		for _, u := range list {
			out.Users = append(out.Users, userJSON(u))
		}
		return ok(out)
	case http.MethodPost:
		var in adminapi.UserInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			return reply{}, err
		}
		out, err := h.CreateUser(ctx, in)
		if errors.Is(err, errHashBusy) {
			w.Header().Set("Retry-After", "1")
		}
		if err != nil {
			return reply{}, err
		}
		h.log.Info("user created", web.RequestField(ctx), userField(out.ID))
		w.Header().Set("Location", "/admin/users/"+out.ID)
		return reply{status: http.StatusCreated, body: out, event: &event{typ: adminapi.EventUserCreated, subject: out.ID}}, nil
	}
	return methodNotAllowed(w, "GET, POST")
}

// user serves /admin/users/{id}: read, change (patchUser) and delete.
func (h *Handler) user(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		u, err := h.store.GetUser(ctx, id)
		if err != nil {
			return reply{}, err
		}
		return ok(userJSON(u))
	case http.MethodDelete:
		if err := findUserRow(ctx, h.store, id); err != nil {
			return reply{}, err
		}
		if err := h.cfg.EndPerson(ctx, id, "deleted"); err != nil {
			return reply{}, err
		}
		if err := h.store.DeleteUser(ctx, id); err != nil {
			return reply{}, err
		}
		h.log.Info("user deleted", web.RequestField(ctx), userField(id))
		return reply{status: http.StatusNoContent, event: &event{typ: adminapi.EventUserDeleted, subject: id}}, nil
	case http.MethodPatch:
		return patchUser(h, w, r)
	}
	return methodNotAllowed(w, "GET, PATCH, DELETE")
}

// userConsents withdraws a person's consents (DELETE): to one client with
// ?client_id=, to all otherwise. The client must ask again next time, and
// the grants behind the consents end now: the store revokes the person's
// tokens of that client (or all) in the same step. The audit entry says
// how many consents and tokens went.
func (h *Handler) userConsents(w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, "DELETE")
	}
	id, clientID := r.PathValue("id"), r.URL.Query().Get("client_id")
	if _, err := h.store.GetUser(ctx, id); err != nil {
		return reply{}, err
	}
	wd, err := h.store.DeleteConsents(ctx, id, clientID)
	if err != nil {
		return reply{}, err
	}
	h.log.Info("consents withdrawn", web.RequestField(ctx), userField(id), zap.Int("count", wd.Consents), zap.Int("tokens_revoked", wd.Tokens))
	return reply{status: http.StatusOK, body: adminapi.ConsentWithdrawal{UserID: id, Withdrawn: wd.Consents, TokensRevoked: wd.Tokens},
		event: &event{typ: adminapi.EventConsentWithdrawn, clientID: clientID, subject: id,
			details: map[string]string{"withdrawn": strconv.Itoa(wd.Consents), "tokens_revoked": strconv.Itoa(wd.Tokens)}}}, nil
}

// userMFAReset serves POST /admin/users/{id}/mfa/reset: every second
// factor and recovery code of the person goes, and their count of wrong
// codes with them. Their browser sessions stay; the next sign-in that
// needs a second factor leads them to set one up.
func (h *Handler) userMFAReset(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := h.store.GetUser(ctx, id); err != nil {
		return reply{}, err
	}
	n, err := h.store.DeleteFactors(ctx, id)
	if err != nil {
		return reply{}, err
	}
	if err := h.store.ClearFailures(ctx, login.MFAFailureKey(id)); err != nil {
		h.log.Warn("clear second-factor failures", web.RequestField(ctx), zap.Error(err))
	}
	// A factor is reset because it was lost or taken: the sessions it
	// opened end with it, so that whoever holds one signs in again.
	ended, err := endSessions(ctx, h.store, id, func(ctx context.Context, bs storage.BrowserSession) error {
		if h.cfg.EndSession != nil {
			return h.cfg.EndSession(ctx, bs, h.cfg.IPs.String(r))
		}
		return h.store.DeleteBrowserSession(ctx, bs.ID)
	})
	if err != nil {
		return reply{}, err
	}
	h.log.Info("second factors reset", web.RequestField(ctx), userField(id), zap.Int("factors_removed", n), zap.Int("sessions_ended", ended))
	return reply{status: http.StatusOK, body: adminapi.MFAReset{UserID: id, FactorsRemoved: n, SessionsEnded: ended},
		event: &event{typ: adminapi.EventMFAReset, subject: id, details: map[string]string{"factors_removed": strconv.Itoa(n), "sessions_ended": strconv.Itoa(ended)}}}, nil
}

// endSessions ends every browser session of the person id and returns how
// many it ended.
func endSessions(ctx context.Context, st Store, id string, end func(context.Context, storage.BrowserSession) error) (int, error) {
	list, err := st.ListBrowserSessions(ctx, id)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, bs := range list {
		switch err := end(ctx, bs); {
		case err == nil:
			n++
		case !errors.Is(err, storage.ErrNotFound):
			return n, err
		}
	}
	return n, nil
}
