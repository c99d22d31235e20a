package admin

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/storage"
)

// patchUser serves PATCH /admin/users/{id}: the fields given change, after
// the checks of registration; a username or email another person has is
// 409. The audit entry names the changed fields, never their values.
func patchUser(h *Handler, w http.ResponseWriter, r *http.Request) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	var in adminapi.UserPatch
	if err := web.DecodeJSON(w, r, &in); err != nil {
		return reply{}, err
	}
	if in.Username == nil && in.Name == nil && in.Email == nil {
		return reply{}, badRequest("give at least one of username, name and email")
	}
	u, err := h.store.GetUser(ctx, id)
	if err != nil {
		return reply{}, err
	}
	next := u
	var fields []string
	set := func(name string, v *string, dst *string, norm func(string) string) {
		if v != nil && norm(*v) != *dst {
			*dst = norm(*v)
			fields = append(fields, name)
		}
	}
	set("username", in.Username, &next.Username, login.NormalizeUsername)
	set("name", in.Name, &next.Name, strings.TrimSpace)
	set("email", in.Email, &next.Email, strings.TrimSpace)
	if err := checkProfile(next); err != nil {
		return reply{}, err
	}
	if len(fields) == 0 {
		return ok(userJSON(u))
	}
	if slices.Contains(fields, "email") && next.Email != "" {
		// No index makes emails unique: look among everyone.
		all, err := h.store.ListUsers(ctx)
		if err != nil {
			return reply{}, err
		}
		if slices.ContainsFunc(all, func(o storage.User) bool { return o.ID != id && strings.EqualFold(o.Email, next.Email) }) {
			return reply{}, web.NewError(http.StatusConflict, "already_exists", "Another user has this email.")
		}
	}
	next.UpdatedAt = h.now().Truncate(time.Second)
	if err := h.store.UpdateUser(ctx, next); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return reply{}, web.NewError(http.StatusConflict, "already_exists", "Another user has this username.")
		}
		return reply{}, err
	}
	h.log.Info("user updated", web.RequestField(ctx), userField(id))
	return reply{status: http.StatusOK, body: userJSON(next),
		event: &event{typ: adminapi.EventUserUpdated, subject: id, details: map[string]string{"fields": strings.Join(fields, ",")}}}, nil
}

// passwordReset serves POST /admin/users/{id}/password-reset: a link at
// which the person sets a new password, once, within 30 minutes. The link
// is in the answer only, never in the audit trail or the logs.
func passwordReset(h *Handler, w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	if h.cfg.ResetLink == nil {
		return reply{}, web.NewError(http.StatusNotImplemented, "not_implemented", "Password-reset links are not available on this server.")
	}
	ctx := r.Context()
	id := r.PathValue("id")
	link, exp, err := h.cfg.ResetLink(ctx, id)
	if err != nil {
		return reply{}, err
	}
	h.log.Info("password reset link issued", web.RequestField(ctx), userField(id))
	return reply{status: http.StatusOK, body: adminapi.PasswordResetLink{UserID: id, Link: link, ExpiresAt: exp.Unix()},
		event: &event{typ: adminapi.EventPasswordResetIssued, subject: id}}, nil
}
