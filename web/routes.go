package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sockplay/sockplay/static"
)

// routes lists every route, top to bottom.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(s.checkHost)

	r.Get("/healthz", s.handleHealth)
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))

	// The WebSocket stream is outside the cross-origin middleware group: it is
	// a GET (which that middleware lets through anyway), and websocket.Accept
	// checks the Origin itself.
	r.Get("/ws/sessions/{id}", s.api(s.inSession(s.handleLive)))

	r.Group(func(r chi.Router) {
		cop := http.NewCrossOriginProtection()
		cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusForbidden, "cross-site request refused: this action must come from sockplay's own pages (or a client without browser origin headers, such as curl)")
		}))
		r.Use(cop.Handler)

		r.Get("/", s.page(s.handleHome))
		r.Post("/sessions", s.page(s.handleNewSessionForm))
		r.Get("/start", s.page(s.handleLessonsPage))
		r.Get("/start/{id}", s.page(s.handleStartPage))
		r.Get("/s/{id}", s.page(s.inSession(s.handleSessionPage)))
		r.Get("/s/{id}/endpoints", s.page(s.inSession(s.handleEndpointsFragment)))
		r.Post("/s/{id}/servers", s.page(s.form(s.formStartServer)))
		r.Post("/s/{id}/servers/{sid}/stop", s.page(s.form(s.formStopServer)))
		r.Post("/s/{id}/servers/{sid}/faults", s.page(s.form(s.formAddFault)))
		r.Post("/s/{id}/servers/{sid}/faults/{name}/delete", s.page(s.form(s.formRemoveFault)))
		r.Post("/s/{id}/clients", s.page(s.form(s.formOpenClient)))
		r.Post("/s/{id}/clients/{cid}/send", s.page(s.form(s.formSend)))
		r.Post("/s/{id}/clients/{cid}/close", s.page(s.form(s.formCloseClient)))
		r.Post("/s/{id}/delete", s.page(s.inSession(s.handleDeleteSessionForm)))

		r.Route("/api", func(r chi.Router) {
			r.Get("/status", s.api(s.handleStatus))
			r.Get("/kinds", s.api(s.handleKinds))
			r.Get("/sessions", s.api(s.handleListSessions))
			r.Post("/sessions", s.api(s.handleCreateSession))
			r.Get("/sessions/{id}", s.api(s.inSession(s.handleGetSession)))
			r.Delete("/sessions/{id}", s.api(s.inSession(s.handleDeleteSession)))
			r.Get("/sessions/{id}/events", s.api(s.inSession(s.handleEvents)))
			r.Get("/sessions/{id}/timeline", s.api(s.inSession(s.handleTimeline)))
			r.Get("/sessions/{id}/lesson", s.api(s.inSession(s.handleSessionLesson)))
			r.Get("/lessons", s.api(s.handleListLessons))
			r.Post("/lessons/{id}/start", s.api(s.handleStartLesson))
			r.Post("/sessions/{id}/servers", s.api(s.inSession(s.handleStartServer)))
			r.Delete("/sessions/{id}/servers/{sid}", s.api(s.inSession(s.handleStopServer)))
			r.Post("/sessions/{id}/servers/{sid}/faults", s.api(s.inSession(s.handleAddFault)))
			r.Get("/sessions/{id}/servers/{sid}/faults", s.api(s.inSession(s.handleListFaults)))
			r.Patch("/sessions/{id}/servers/{sid}/faults/{name}", s.api(s.inSession(s.handleUpdateFault)))
			r.Delete("/sessions/{id}/servers/{sid}/faults/{name}", s.api(s.inSession(s.handleRemoveFault)))
			r.Post("/sessions/{id}/clients", s.api(s.inSession(s.handleOpenClient)))
			r.Post("/sessions/{id}/clients/{cid}/send", s.api(s.inSession(s.handleSend)))
			r.Post("/sessions/{id}/clients/{cid}/close", s.api(s.inSession(s.handleCloseClient)))
			r.NotFound(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
			})
			r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
			})
		})
	})
	return r
}
