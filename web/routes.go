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
	r.Use(s.frameHeaders) // who may frame a page: no one but -embed-origins, and only ?embed=1 (embed.go)
	r.Use(s.checkHost)
	r.Use(s.workshopGate) // workshop mode: who is asking; 401 on session routes for nobody

	r.Get("/healthz", s.handleHealth)
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))

	// The WebSocket stream is outside the cross-origin middleware group: it is
	// a GET (which that middleware lets through anyway), and websocket.Accept
	// checks the Origin itself.
	r.Get("/ws/sessions/{id}", s.api(s.inSession(s.handleLive)))
	r.Get("/ws/shared/{token}", s.api(s.inShare(s.handleSharedLive)))
	r.Get("/ws/sessions/{id}/replay", s.api(s.inSession(s.handleReplay)))
	r.Get("/ws/shared/{token}/replay", s.api(s.inShare(s.handleSharedReplay)))

	r.Group(func(r chi.Router) {
		cop := http.NewCrossOriginProtection()
		cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusForbidden, "cross-site request refused: this action must come from sockplay's own pages (or a client without browser origin headers, such as curl)")
		}))
		r.Use(cop.Handler)

		r.Get("/", s.page(s.handleHome))
		r.Post("/sessions", s.page(s.handleNewSessionForm))
		r.Post("/sessions/import", s.page(s.handleImportForm))
		r.Get("/start", s.page(s.handleLessonsPage))
		r.Get("/start/{id}", s.page(s.handleStartPage))
		r.Get("/s/{id}", s.page(s.inSession(s.handleSessionPage)))
		r.Get("/s/{id}/endpoints", s.page(s.inSession(s.handleEndpointsFragment)))
		r.Post("/s/{id}/servers", s.page(s.form(s.formStartServer)))
		r.Post("/s/{id}/servers/{sid}/stop", s.page(s.form(s.formStopServer)))
		r.Post("/s/{id}/servers/{sid}/faults", s.page(s.form(s.formAddFault)))
		r.Post("/s/{id}/servers/{sid}/faults/{name}/delete", s.page(s.form(s.formRemoveFault)))
		r.Post("/s/{id}/servers/{sid}/faults/{name}/update", s.page(s.form(s.formUpdateFault)))
		r.Post("/s/{id}/clients/{cid}/faults", s.page(s.form(s.formAddFault)))
		r.Post("/s/{id}/clients/{cid}/faults/{name}/delete", s.page(s.form(s.formRemoveFault)))
		r.Post("/s/{id}/clients/{cid}/faults/{name}/update", s.page(s.form(s.formUpdateFault)))
		r.Post("/s/{id}/clients", s.page(s.form(s.formOpenClient)))
		r.Post("/s/{id}/clients/{cid}/send", s.page(s.form(s.formSend)))
		r.Post("/s/{id}/clients/{cid}/close", s.page(s.form(s.formCloseClient)))
		r.Post("/s/{id}/delete", s.page(s.inSession(s.handleDeleteSessionForm)))
		r.Get("/join", s.page(s.handleJoinPage))
		r.Post("/join", s.page(s.handleJoinForm))
		r.Get("/instructor", s.page(s.handleInstructorPage))
		r.Post("/instructor/login", s.page(s.handleInstructorLoginForm))
		r.Post("/instructor/logout", s.page(s.handleInstructorLogoutForm))
		r.Post("/instructor/workshops", s.page(s.instructorOnly(s.handleNewWorkshopForm)))
		r.Post("/instructor/workshops/{wid}/end", s.page(s.instructorOnly(s.handleEndWorkshopForm)))
		r.Get("/instructor/workshops/{wid}", s.page(s.instructorOnly(s.handleDashboardPage)))
		r.Get("/instructor/workshops/{wid}/participants", s.page(s.instructorOnly(s.handleParticipantRows)))
		r.Get("/instructor/workshops/{wid}/qr.svg", s.page(s.instructorOnly(s.handleWorkshopQR)))
		r.Post("/instructor/workshops/{wid}/message", s.page(s.instructorOnly(s.dashboardForm(s.formMessage))))
		r.Post("/instructor/workshops/{wid}/faults", s.page(s.instructorOnly(s.dashboardForm(s.formPush))))
		r.Post("/instructor/workshops/{wid}/faults/{name}/lift", s.page(s.instructorOnly(s.dashboardForm(s.formLift))))
		r.Post("/instructor/workshops/{wid}/freeze", s.page(s.instructorOnly(s.dashboardForm(s.formFreeze))))
		r.Post("/instructor/workshops/{wid}/open-lab", s.page(s.instructorOnly(s.dashboardForm(s.formOpenLab))))
		r.Post("/instructor/workshops/{wid}/show", s.page(s.instructorOnly(s.dashboardForm(s.formShowToEveryone))))
		r.Get("/shared/{token}", s.page(s.inShare(s.handleSharedPage)))
		r.Get("/shared/{token}/endpoints", s.page(s.inShare(s.handleSharedEndpoints)))

		r.Route("/api", func(r chi.Router) {
			r.Get("/status", s.api(s.handleStatus))
			r.Get("/kinds", s.api(s.handleKinds))
			r.Get("/errors", s.api(s.handleErrors))
			r.Get("/sessions", s.api(s.handleListSessionsWithUsage))
			r.Post("/sessions", s.api(s.handleCreateSession))
			r.Post("/sessions/import", s.api(s.handleImport))
			r.Get("/sessions/{id}", s.api(s.inSession(s.handleGetSession)))
			r.Delete("/sessions/{id}", s.api(s.inSession(s.handleDeleteSession)))
			r.Patch("/sessions/{id}", s.api(s.inSession(s.handleRenameSession)))
			r.Get("/sessions/{id}/events", s.api(s.inSession(s.handleEvents)))
			r.Get("/sessions/{id}/timeline", s.api(s.inSession(s.handleTimeline)))
			r.Get("/sessions/{id}/seek", s.api(s.inSession(s.handleSeek)))
			r.Get("/sessions/{id}/lesson", s.api(s.inSession(s.handleSessionLesson)))
			r.Get("/lessons", s.api(s.handleListLessons))
			r.Post("/lessons/{id}/start", s.api(s.handleStartLesson))
			r.Post("/sessions/{id}/servers", s.api(s.inSession(s.handleStartServer)))
			r.Delete("/sessions/{id}/servers/{sid}", s.api(s.inSession(s.handleStopServer)))
			r.Post("/sessions/{id}/servers/{sid}/faults", s.api(s.inSession(s.handleAddFault)))
			r.Get("/sessions/{id}/servers/{sid}/faults", s.api(s.inSession(s.handleListFaults)))
			r.Patch("/sessions/{id}/servers/{sid}/faults/{name}", s.api(s.inSession(s.handleUpdateFault)))
			r.Delete("/sessions/{id}/servers/{sid}/faults/{name}", s.api(s.inSession(s.handleRemoveFault)))
			r.Post("/sessions/{id}/clients/{cid}/faults", s.api(s.inSession(s.handleAddFault)))
			r.Get("/sessions/{id}/clients/{cid}/faults", s.api(s.inSession(s.handleListFaults)))
			r.Patch("/sessions/{id}/clients/{cid}/faults/{name}", s.api(s.inSession(s.handleUpdateFault)))
			r.Delete("/sessions/{id}/clients/{cid}/faults/{name}", s.api(s.inSession(s.handleRemoveFault)))
			r.Post("/sessions/{id}/clients", s.api(s.inSession(s.handleOpenClient)))
			r.Post("/sessions/{id}/clients/{cid}/send", s.api(s.inSession(s.handleSend)))
			r.Post("/sessions/{id}/clients/{cid}/close", s.api(s.inSession(s.handleCloseClient)))
			r.Post("/workshop/login", s.api(s.handleLogin))
			r.Post("/workshop/logout", s.api(s.handleLogout))
			r.Post("/workshops", s.api(s.instructorOnly(s.handleCreateWorkshop)))
			r.Get("/workshops", s.api(s.instructorOnly(s.handleListWorkshops)))
			r.Get("/workshops/{wid}", s.api(s.instructorOnly(s.handleGetWorkshop)))
			r.Post("/workshops/{wid}/end", s.api(s.instructorOnly(s.handleEndWorkshop)))
			r.Post("/workshops/{wid}/faults", s.api(s.instructorOnly(s.handlePushFault)))
			r.Delete("/workshops/{wid}/faults/{name}", s.api(s.instructorOnly(s.handleLiftFault)))
			r.Post("/workshops/{wid}/freeze", s.api(s.instructorOnly(s.handleFreeze)))
			r.Post("/workshops/{wid}/open-lab", s.api(s.instructorOnly(s.handleOpenLab)))
			r.Post("/workshops/{wid}/message", s.api(s.instructorOnly(s.handleMessage)))
			r.Post("/workshops/{wid}/show", s.api(s.instructorOnly(s.handleShowToEveryone)))
			r.Get("/workshops/{wid}/export.zip", s.api(s.instructorOnly(s.handleExportWorkshop)))
			r.Get("/sessions/{id}/workshop", s.api(s.inSession(s.handleSessionWorkshop)))
			r.Post("/join", s.api(s.handleJoin))
			r.Get("/sessions/{id}/export.jsonl", s.api(s.inSession(s.handleExportJSONL)))
			r.Get("/sessions/{id}/export.pcapng", s.api(s.inSession(s.handleExportPcapng)))
			r.Get("/sessions/{id}/export.txt", s.api(s.inSession(s.handleExportText)))
			r.Post("/sessions/{id}/shares", s.api(s.inSession(s.handleCreateShare)))
			r.Get("/sessions/{id}/shares", s.api(s.inSession(s.handleListShares)))
			r.Delete("/sessions/{id}/shares/{token}", s.api(s.inSession(s.handleRevokeShare)))
			r.Get("/shared/{token}", s.api(s.inShare(s.handleSharedSession)))
			r.Get("/shared/{token}/events", s.api(s.inShare(s.handleSharedEvents)))
			r.Get("/shared/{token}/timeline", s.api(s.inShare(s.handleSharedTimeline)))
			r.Get("/shared/{token}/seek", s.api(s.inShare(s.handleSharedSeek)))
			r.Get("/shared/{token}/export.jsonl", s.api(s.inShare(s.handleSharedExport("jsonl"))))
			r.Get("/shared/{token}/export.pcapng", s.api(s.inShare(s.handleSharedExport("pcapng"))))
			r.Get("/shared/{token}/export.txt", s.api(s.inShare(s.handleSharedExport("txt"))))
			r.Get("/sessions/{id}/sockets", s.api(s.inSessionRow(s.handleSockets))) // asked every second: the session's row alone
			r.Post("/sessions/{id}/reproduce", s.api(s.inSession(s.handleReproduce)))
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
