package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

func userJSON(u storage.User) UserJSON {
	return UserJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email,
		CreatedAt: u.CreatedAt.Unix(), UpdatedAt: u.UpdatedAt.Unix()}
}

// validUser checks a new person's fields, password policy included, and
// returns the record to store (without ID, hash and times).
func validUser(in UserInput) (storage.User, error) {
	u := storage.User{Username: login.NormalizeUsername(in.Username), Name: strings.TrimSpace(in.Name), Email: strings.TrimSpace(in.Email)}
	if !usernamePattern.MatchString(u.Username) {
		return u, badRequest(fmt.Sprintf("username must be 1 to %d characters: letters, digits and . _ @ + - (starting with a letter or digit)", login.MaxUsernameLen))
	}
	if len(u.Name) > maxUserNameLen || !utf8.ValidString(u.Name) || strings.IndexFunc(u.Name, unicode.IsControl) >= 0 {
		return u, badRequest(fmt.Sprintf("name must be at most %d printable characters", maxUserNameLen))
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || a.Name != "" || len(u.Email) > maxEmailLen {
			return u, badRequest("email must be a plain address such as ada@example.com")
		}
	}
	if in.Password == "" {
		return u, badRequest("password is required")
	}
	if err := password.CheckPolicy(in.Password, u.Username, u.Email); err != nil {
		return u, web.NewError(http.StatusBadRequest, "weak_password", err.Error()+".")
	}
	return u, nil
}

// newUserID returns an opaque user ID: 128 random bits, base64url.
func newUserID() (string, error) {
	var raw [userIDRawLength]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return "u_" + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// CreateUser registers a person. The password is checked against the
// policy and kept only as an argon2id hash.
func (s *Server) CreateUser(ctx context.Context, in UserInput) (UserJSON, error) {
	u, err := validUser(in)
	if err != nil {
		return UserJSON{}, err
	}
	if u.ID, err = newUserID(); err != nil {
		return UserJSON{}, err
	}
	if u.PasswordHash, err = s.cfg.Argon2.Hash(in.Password); err != nil {
		return UserJSON{}, err
	}
	u.CreatedAt = s.now().Truncate(time.Second)
	u.UpdatedAt = u.CreatedAt
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return UserJSON{}, web.NewError(http.StatusConflict, "already_exists", "A user with this username exists.")
		}
		return UserJSON{}, err
	}
	return userJSON(u), nil
}

func userField(id string) zap.Field { return zap.String("user_id", id) }

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		list, err := s.store.ListUsers(ctx)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		out := UserList{Users: make([]UserJSON, 0, len(list))}
		for _, u := range list {
			out.Users = append(out.Users, userJSON(u))
		}
		web.WriteJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var in UserInput
		if err := web.DecodeJSON(w, r, &in); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		out, err := s.CreateUser(ctx, in)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("user created", web.RequestField(ctx), userField(out.ID))
		noteAdmin(ctx, EventUserCreated, "", out.ID, nil)
		w.Header().Set("Location", "/admin/users/"+out.ID)
		web.WriteJSON(w, http.StatusCreated, out)
	default:
		web.MethodNotAllowed(w, "GET, POST")
	}
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet:
		u, err := s.store.GetUser(ctx, id)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, userJSON(u))
	case http.MethodDelete:
		if err := s.store.DeleteUser(ctx, id); err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.log.Info("user deleted", web.RequestField(ctx), userField(id))
		noteAdmin(ctx, EventUserDeleted, "", id, nil)
		w.WriteHeader(http.StatusNoContent)
	default:
		web.MethodNotAllowed(w, "GET, DELETE")
	}
}

// adminUserConsents withdraws a person's consents: to one client with
// ?client_id=, to all otherwise. The client must ask again next time.
func (s *Server) adminUserConsents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodDelete {
		web.MethodNotAllowed(w, "DELETE")
		return
	}
	id := r.PathValue("id")
	if _, err := s.store.GetUser(ctx, id); err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	n, err := s.store.DeleteConsents(ctx, id, r.URL.Query().Get("client_id"))
	if err != nil {
		s.writeAdminError(w, r, err)
		return
	}
	s.log.Info("consents withdrawn", web.RequestField(ctx), userField(id), zap.Int("count", n))
	noteAdmin(ctx, EventConsentWithdrawn, r.URL.Query().Get("client_id"), id, map[string]string{"withdrawn": strconv.Itoa(n)})
	web.WriteJSON(w, http.StatusOK, ConsentWithdrawal{UserID: id, Withdrawn: n})
}
