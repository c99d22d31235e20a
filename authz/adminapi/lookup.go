package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Named makes a 404 of the admin API name what was not found: "no user
// "ada"" rather than only "No such resource.".
func Named(err error, kind, id string) error {
	var ae *Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("no %s %q: %w", kind, id, err)
	}
	return err
}

// UserID returns the ID of the person that arg names: an ID, or else a
// username (case-insensitive, as usernames are stored lower-case).
func (c *Client) UserID(ctx context.Context, arg string) (string, error) {
	_, _, err := c.GetUser(ctx, arg)
	var ae *Error
	if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return arg, err
	}
	l, _, lerr := c.ListUsers(ctx)
	if lerr != nil {
		return "", lerr
	}
	for _, u := range l.Users {
		if strings.EqualFold(u.Username, arg) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("no user with ID or username %q: %w", arg, err)
}
