package authz

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// This file is the one place that turns errors into HTTP answers. OAuth
// endpoints answer RFC 6749 JSON errors, the admin API
// {"error","error_description"}; neither ever shows internal detail. An
// unexpected error is logged with the request ID and answered with a fixed
// server_error.

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
