package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The fault routes: a running server's faults, or an open client's, added,
// listed, changed (and switched on or off) and removed live
// (engine/fault.go). A client's routes are the same under
// /clients/{cid}/faults.
//
//	POST   /api/sessions/{id}/servers/{sid}/faults         {"name"?, "type", "direction"?, "toxicity"?, "attributes"?, "enabled"?} -> 201 the fault
//	GET    /api/sessions/{id}/servers/{sid}/faults         -> {"faults": [...], "presets": [...]}
//	PATCH  /api/sessions/{id}/servers/{sid}/faults/{name}  {"toxicity"?, "attributes"?, "enabled"?} -> 200 the fault
//	DELETE /api/sessions/{id}/servers/{sid}/faults/{name}  -> 204
//
// A server can also start with faults: POST /api/sessions/{id}/servers
// takes "faults": [FaultSpec…] beside "options" (a field of its own, not an
// option: options are the kind's schema, faults are the same for every
// stream kind). A wrong one refuses the start with a 400 naming
// faults[i].field, and nothing starts.

// faultOwnerID is the server or client id of a fault route.
func faultOwnerID(r *http.Request) string {
	if id := chi.URLParam(r, "cid"); id != "" {
		return id
	}
	return chi.URLParam(r, "sid")
}

func (s *Server) handleAddFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in engine.FaultSpec
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if err := s.checkClientOpen(r, sess); err != nil {
		return err
	}
	f, err := s.lab.AddFault(sess.ID, faultOwnerID(r), in)
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusCreated, f)
}

func (s *Server) handleListFaults(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	list, err := s.lab.Faults(sess.ID, faultOwnerID(r))
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusOK, map[string]any{"faults": list, "presets": presetsFor(chi.URLParam(r, "cid") != "")})
}

func (s *Server) handleUpdateFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in engine.FaultPatch
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	f, err := s.lab.UpdateFault(sess.ID, faultOwnerID(r), chi.URLParam(r, "name"), in)
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusOK, f)
}

func (s *Server) handleRemoveFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	if err := s.lab.RemoveFault(sess.ID, faultOwnerID(r), chi.URLParam(r, "name")); err != nil {
		return s.faultError(r, sess, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkClientOpen refuses a fault on a client that is closed: faults act
// on an open connection.
func (s *Server) checkClientOpen(r *http.Request, sess sessions.Session) error {
	id := chi.URLParam(r, "cid")
	if id == "" {
		return nil
	}
	if slices.ContainsFunc(s.lab.Clients(sess.ID), func(c engine.ClientInfo) bool { return c.ID == id && c.State == engine.StateClosed }) {
		return &apiError{status: http.StatusConflict, msg: "client " + id + " is closed: faults act on an open connection; open a new client"}
	}
	return nil
}

// faultError answers a server the session had but that no longer runs (or
// a client it had but that is gone) with 409, not an unknown id.
func (s *Server) faultError(r *http.Request, sess sessions.Session, err error) error {
	if err == nil || !errors.Is(err, engine.ErrNotFound) || strings.HasPrefix(err.Error(), "fault ") {
		return err // (a fault that is not there: 404)
	}
	if id := chi.URLParam(r, "cid"); id != "" {
		if s.hadEndpoint(r.Context(), sess, id, true) {
			return &apiError{status: http.StatusConflict, msg: "client " + id + " is closed: faults act on an open connection; open a new client"}
		}
		return err
	}
	id := chi.URLParam(r, "sid")
	running := slices.ContainsFunc(s.lab.Servers(sess.ID), func(i engine.ServerInfo) bool {
		return i.ID == id && i.State == engine.StateRunning
	})
	if !running && s.hadEndpoint(r.Context(), sess, id, false) {
		return &apiError{status: http.StatusConflict, msg: "server " + id + " is stopped: faults go on a running server; start it again first"}
	}
	return err
}

// presetsFor lists the presets a server (or a client) takes: a client has
// no listener to refuse.
func presetsFor(client bool) []engine.FaultPreset {
	if !client {
		return engine.FaultPresets
	}
	return slices.DeleteFunc(slices.Clone(engine.FaultPresets), func(p engine.FaultPreset) bool { return p.Fault.Type == "refuse" })
}

// faultOwner is what the faults panel is drawn for: a running server or an
// open client.
type faultOwner struct {
	Session, ID string
	Client      bool
	Net         string // the server's transport ("udp": datagram faults)
	Faults      []engine.Fault
}

func serverFaults(v sessionView, s serverView) faultOwner {
	return faultOwner{Session: v.ID, ID: s.ID, Net: s.Net, Faults: s.Faults}
}

func clientFaults(v sessionView, c clientView) faultOwner {
	return faultOwner{Session: v.ID, ID: c.ID, Client: true, Faults: c.Faults}
}

// path is the owner's part of a route: "servers/srv-…" or "clients/cli-…".
func (o faultOwner) path() string {
	if o.Client {
		return "clients/" + o.ID
	}
	return "servers/" + o.ID
}

// form is the no-JavaScript form route of the owner's faults (with rest
// after it: "/{name}/delete").
func (o faultOwner) form(rest string) templ.SafeURL {
	return templ.SafeURL("/s/" + o.Session + "/" + o.path() + "/faults" + rest)
}

// types are the fault types the owner takes.
func (o faultOwner) types() []engine.FaultTypeInfo {
	if o.Client {
		return engine.FaultTypes("client")
	}
	return engine.FaultTypes(o.Net)
}

// presets are the presets the owner takes, with their index in
// engine.FaultPresets (what the no-JavaScript form posts).
func (o faultOwner) presets() []indexedPreset {
	if o.Net == engine.NetUDP {
		return nil
	}
	var out []indexedPreset
	for i, p := range engine.FaultPresets {
		if o.Client && p.Fault.Type == "refuse" {
			continue
		}
		out = append(out, indexedPreset{i, p})
	}
	return out
}

type indexedPreset struct {
	Index int
	engine.FaultPreset
}

// detailsID keeps a fault's edit box open across the panel's refreshes.
func (o faultOwner) detailsID(f engine.Fault) string { return o.ID + "-fault-" + f.Name }

// faultAttrSpecs is the attribute schema of a fault type.
func faultAttrSpecs(typ string) []engine.OptionSpec {
	for _, net := range []string{engine.NetTCP, engine.NetUDP} {
		for _, ft := range engine.FaultTypes(net) {
			if ft.Name == typ {
				return ft.Attributes
			}
		}
	}
	return nil
}

func attrValue(f engine.Fault, name string) string { return fmt.Sprint(f.Attributes[name]) }

// faultsCount says how many faults are on, and off: "2 on", "1 on, 1 off".
func faultsCount(list []engine.Fault) string {
	on := 0
	for _, f := range list {
		if f.Enabled {
			on++
		}
	}
	if on == len(list) {
		return fmt.Sprintf("%d on", on)
	}
	return fmt.Sprintf("%d on, %d off", on, len(list)-on)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// startFaultsFromForm reads the start form's fault presets (their indexes,
// "fault-preset").
func startFaultsFromForm(form url.Values) ([]engine.FaultSpec, error) {
	var out []engine.FaultSpec
	for _, v := range form["fault-preset"] {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(engine.FaultPresets) {
			return nil, badRequest(fmt.Sprintf("fault preset %q: no such preset", v))
		}
		out = append(out, engine.FaultPresets[i].Fault)
	}
	return out, nil
}

// formUpdateFault is a fault's switch and edit form without JavaScript:
// enabled (on/off), toxicity and attr.NAME fields, each optional.
func (s *Server) formUpdateFault(r *http.Request, sess sessions.Session) error {
	var patch engine.FaultPatch
	switch v := r.PostForm.Get("enabled"); v {
	case "":
	case "on", "true", "1":
		patch.Enabled = new(true)
	case "off", "false", "0":
		patch.Enabled = new(false)
	default:
		return badRequest(fmt.Sprintf("enabled %q: want on or off", v))
	}
	if v := strings.TrimSpace(r.PostForm.Get("toxicity")); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return badRequest(fmt.Sprintf("toxicity %q: want a number from 0 to 1", v))
		}
		patch.Toxicity = &t
	}
	attrs := map[string]any{}
	for k, vs := range r.PostForm {
		name, ok := strings.CutPrefix(k, "attr.")
		if !ok || len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
		if err != nil {
			return badRequest(fmt.Sprintf("attribute %q: %q is not a whole number", name, vs[0]))
		}
		attrs[name] = n
	}
	if len(attrs) > 0 {
		patch.Attributes, _ = json.Marshal(attrs)
	}
	_, err := s.lab.UpdateFault(sess.ID, faultOwnerID(r), chi.URLParam(r, "name"), patch)
	return s.faultError(r, sess, err)
}
