package console

import "net/http"

// operatorData is the page data of the operators' and the four-eyes
// requests' pages.
type operatorData struct{}

// operatorRoutes adds the operators' and the four-eyes requests' routes.
func (h *Handler) operatorRoutes(m *http.ServeMux, v views) {}
