package admin

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 description of the admin API (JSON), as
// GET /admin/openapi.json serves it. A test holds it to the routes the
// handler registers and to the answers they give.
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

// openAPI serves GET /admin/openapi.json. It needs the admin token like
// every other route: the document is no secret (it is in the source), but
// one rule for the whole listener is simpler to keep and to audit.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) (reply, error) {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, "GET")
	}
	return ok(json.RawMessage(openAPIDoc))
}
