package adminapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// UserPatch is what PATCH /admin/users/{id} takes: the fields to change;
// an absent (nil) field stays as it is.
type UserPatch struct {
	Username *string `json:"username,omitempty"`
	Name     *string `json:"name,omitempty"`
	Email    *string `json:"email,omitempty"`
}

// PasswordResetLink is the answer of POST /admin/users/{id}/password-reset:
// a link, usable once until ExpiresAt (Unix seconds), at which the person
// sets a new password. Hand it to them by a channel you trust.
type PasswordResetLink struct {
	UserID    string `json:"user_id"`
	Link      string `json:"link"`
	ExpiresAt int64  `json:"expires_at"`
}

// UpdateUser changes a person's username, name or email (PATCH
// /admin/users/{id}); 409 if the username or email is another person's.
func (c *Client) UpdateUser(ctx context.Context, id string, in UserPatch) (UserJSON, []byte, error) {
	return call[UserJSON](ctx, c, http.MethodPatch, route("users", id), nil, in)
}

// PasswordReset makes a single-use password-reset link for a person (POST
// /admin/users/{id}/password-reset), valid 30 minutes.
func (c *Client) PasswordReset(ctx context.Context, id string) (PasswordResetLink, []byte, error) {
	return call[PasswordResetLink](ctx, c, http.MethodPost, route("users", id, "/password-reset"), nil, nil)
}

// WritePasswordReset prints a password-reset link and until when it works.
func WritePasswordReset(w io.Writer, l PasswordResetLink) error {
	_, err := fmt.Fprintf(w, "password-reset link for user %s, usable once until %s:\n%s\n",
		l.UserID, time.Unix(l.ExpiresAt, 0).UTC().Format(time.RFC3339), l.Link)
	return err
}

// PatchOf is the patch of the flags that were set: name, email and
// username by the name of their flag; changed reports whether a flag was
// given (so that an empty value can clear a field).
func PatchOf(changed func(flag string) bool, value func(flag string) string) UserPatch {
	var p UserPatch
	for flag, dst := range map[string]**string{"username": &p.Username, "name": &p.Name, "email": &p.Email} {
		if changed(flag) {
			v := value(flag)
			*dst = &v
		}
	}
	return p
}
