package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
)

// views are the signed-in pages, over the admin API.
type views struct{ *Handler }

// maxQuery bounds a search.
const maxQuery = 200

func (h views) dashboard(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	d := c.data("Dashboard")
	if c.can[adminauth.KeysRead] {
		kl, _, err := c.api.ListKeys(ctx)
		if err != nil {
			h.apiError(w, r, c, err)
			return
		}
		d.Keys = kl.Keys
	}
	if err := h.dashboardFigures(ctx, c, &d); err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.render(w, r, http.StatusOK, "dashboard", d)
}

// search reads the q parameter of a list page.
func search(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQuery {
		q = q[:maxQuery]
	}
	return q
}

func contains(s, q string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(q)) }

func (h views) clients(w http.ResponseWriter, r *http.Request, c *op) {
	h.clientList(w, r, c, http.StatusOK, "")
}

func (h views) clientList(w http.ResponseWriter, r *http.Request, c *op, status int, msg string) {
	ctx, cancel := within(r)
	defer cancel()
	d := c.data("Clients")
	d.Query, d.Error = search(r), msg
	list, _, err := c.api.ListClients(ctx)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	for _, cl := range list.Clients {
		if d.Query == "" || contains(cl.ClientID, d.Query) || contains(cl.ClientName, d.Query) {
			d.Clients = append(d.Clients, cl)
		}
	}
	h.render(w, r, status, "clients", d)
}

// createClient registers a client from the form and shows its secret,
// once.
func (h views) createClient(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	f := r.PostForm
	in := adminapi.ClientJSON{ClientName: strings.TrimSpace(f.Get("name")), Scope: strings.Join(strings.Fields(f.Get("scope")), " "),
		TokenEndpointAuthMethod: f.Get("auth_method")}
	if uris := strings.Fields(f.Get("redirect_uris")); len(uris) > 0 {
		in.RedirectURIs = uris
		in.GrantTypes, in.ResponseTypes = []string{"authorization_code", "refresh_token"}, []string{"code"}
	} else {
		in.GrantTypes = []string{"client_credentials"}
	}
	if in.TokenEndpointAuthMethod == "" {
		in.TokenEndpointAuthMethod = "client_secret_basic"
	}
	out, _, err := c.api.CreateClient(ctx, in)
	if err != nil {
		if ae, ok := err.(*adminapi.Error); ok && ae.Status == http.StatusBadRequest {
			h.clientList(w, r, c, http.StatusBadRequest, ae.Description)
			return
		}
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Client created")
	d.Client, d.NewSecret, d.Script = &out, out.ClientSecret, h.pages.scriptPath
	d.Client.ClientSecret = ""
	h.render(w, r, http.StatusCreated, "client", d)
}

func (h views) client(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	cl, _, err := c.api.GetClient(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Client " + cl.ClientID)
	d.Client = &cl
	d.Client.ClientSecret = ""
	h.render(w, r, http.StatusOK, "client", d)
}

// deleteClient deletes a client once its ID was typed to confirm.
func (h views) deleteClient(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	id := r.PathValue("id")
	if r.PostForm.Get("confirm") != id {
		d := c.data("Not deleted")
		d.Error = "Type the client ID exactly to confirm. Nothing was deleted."
		h.render(w, r, http.StatusBadRequest, "message", d)
		return
	}
	if err := c.api.DeleteClient(ctx, id); err != nil {
		h.apiError(w, r, c, err)
		return
	}
	http.Redirect(w, r, Prefix+"/clients?deleted="+url.QueryEscape(id), http.StatusSeeOther)
}

func (h views) rotateClient(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	out, _, err := c.api.RotateClientSecret(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("New client secret")
	d.Client, d.NewSecret, d.Script = &out, out.ClientSecret, h.pages.scriptPath
	d.Client.ClientSecret = ""
	h.render(w, r, http.StatusOK, "client", d)
}

func (h views) people(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	d := c.data("People")
	d.Query = search(r)
	if r.URL.Query().Has("erased") {
		d.Notice = "The person was erased."
	}
	if d.Query != "" {
		list, _, err := c.api.ListUsers(ctx)
		if err != nil {
			h.apiError(w, r, c, err)
			return
		}
		for _, u := range list.Users {
			if contains(u.Username, d.Query) || contains(u.Email, d.Query) {
				d.People = append(d.People, u)
			}
		}
	}
	h.render(w, r, http.StatusOK, "people", d)
}

func (h views) person(w http.ResponseWriter, r *http.Request, c *op) {
	h.personPage(w, r, c, http.StatusOK, "", "")
}

func (h views) personPage(w http.ResponseWriter, r *http.Request, c *op, status int, notice, link string) {
	ctx, cancel := within(r)
	defer cancel()
	ex, _, err := c.api.ExportUser(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	d := c.data("Person " + ex.User.Username)
	d.Person, d.Export, d.Notice, d.Link = &ex.User, &ex, notice, link
	if link != "" {
		d.Script = h.pages.scriptPath
	}
	h.render(w, r, status, "person", d)
}

// erasePerson erases a person once their username was typed to confirm.
func (h views) erasePerson(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	id := r.PathValue("id")
	u, _, err := c.api.GetUser(ctx, id)
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	if r.PostForm.Get("confirm") != u.Username {
		d := c.data("Not erased")
		d.Error = "Type the username exactly to confirm. Nothing was erased."
		h.render(w, r, http.StatusBadRequest, "message", d)
		return
	}
	if _, _, err := c.api.EraseUser(ctx, id); err != nil {
		h.apiError(w, r, c, err)
		return
	}
	http.Redirect(w, r, Prefix+"/people?erased=1", http.StatusSeeOther)
}

func (h views) resetPersonMFA(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	if _, _, err := c.api.ResetMFA(ctx, r.PathValue("id")); err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.personPage(w, r, c, http.StatusOK, "Second factors removed and sessions ended.", "")
}

func (h views) personResetLink(w http.ResponseWriter, r *http.Request, c *op) {
	ctx, cancel := within(r)
	defer cancel()
	l, _, err := c.api.PasswordReset(ctx, r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, c, err)
		return
	}
	h.personPage(w, r, c, http.StatusOK, "Password-reset link made; give it to the person. It is shown once.", l.Link)
}

func (h views) keys(w http.ResponseWriter, r *http.Request, c *op) {
	h.keysPage(w, r, c, http.StatusOK, "", nil)
}

func (h views) audit(w http.ResponseWriter, r *http.Request, c *op) {
	h.auditPage(w, r, c)
}

func (h views) operators(w http.ResponseWriter, r *http.Request, c *op) {
	operatorViews{h}.operatorList(w, r, c, http.StatusOK, "")
}
