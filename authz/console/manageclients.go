package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// clientForm is the client edit form: the fields the console changes;
// the client's other metadata is sent back as it was.
type clientForm struct {
	ClientID, Name, Scope, RedirectURIs string
	Grants                              []grantOption
}

// grantOption is a grant type's checkbox.
type grantOption struct {
	Value   string
	Checked bool
}

// formOf is the edit form of cl.
func formOf(cl adminapi.ClientJSON) *clientForm {
	f := &clientForm{ClientID: cl.ClientID, Name: cl.ClientName, Scope: cl.Scope, RedirectURIs: strings.Join(cl.RedirectURIs, "\n")}
	for _, g := range adminapi.Grants() {
		f.Grants = append(f.Grants, grantOption{Value: g, Checked: slices.Contains(cl.GrantTypes, g)})
	}
	return f
}

// editClient shows the edit form of a client.
func (h views) editClient(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	cl, _, err := c.api.GetClient(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Edit client " + cl.ClientID)
	d.Edit = formOf(cl)
	h.render(w, r, http.StatusOK, "clientedit", d)
}

// updateClient changes a client's name, scopes, redirect URIs and grant
// types (PUT /admin/clients/{id}, the rest of its metadata as it was);
// the API's refusal is shown on the form, as typed.
func (h views) updateClient(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	cl, _, err := c.api.GetClient(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	p := r.PostForm
	cl.ClientName = strings.TrimSpace(p.Get("name"))
	cl.Scope = strings.Join(strings.Fields(p.Get("scope")), " ")
	cl.RedirectURIs = strings.Fields(p.Get("redirect_uris"))
	cl.GrantTypes = []string{}
	for _, g := range adminapi.Grants() {
		if p.Get("grant_"+g) != "" {
			cl.GrantTypes = append(cl.GrantTypes, g)
		}
	}
	// The server sets the response types from the grant types.
	cl.ResponseTypes = nil
	form := func(status int, msg string) {
		d := c.data("Edit client " + cl.ClientID)
		d.Edit, d.Error = formOf(cl), msg
		h.render(w, r, status, "clientedit", d)
	}
	if len(cl.ClientName) > 200 || len(cl.Scope) > 2000 {
		form(http.StatusBadRequest, "Not saved: the name or the scopes are too long.")
		return
	}
	out, _, err := c.api.UpdateClient(ctx, cl.ClientID, cl)
	var ae *adminapi.Error
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		form(http.StatusBadRequest, "Not saved: "+cmpOr(ae.Description, ae.Code))
		return
	} else if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Client " + out.ClientID)
	d.Client, d.Notice = &out, "The client was saved."
	d.Client.ClientSecret = ""
	h.render(w, r, http.StatusOK, "client", d)
}
