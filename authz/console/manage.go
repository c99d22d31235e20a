package console

import "net/http"

// manageData is the page data of the management pages (keys, audit,
// clients' edit, people's export, the dashboard's figures).
type manageData struct{}

// manageRoutes adds the management pages' routes.
func (h *Handler) manageRoutes(m *http.ServeMux, v views) {}
