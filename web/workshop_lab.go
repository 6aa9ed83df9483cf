package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// Workshop participants' own blocks of lab ports and the instructor's
// "open lab" (docs/workshop.md): each participant's session gets a block
// of Config.ParticipantPorts ports at join (stored, so a restart gives it
// back), its servers listen only there, and the dial policy keeps other
// participants' clients out of it unless the instructor opens the lab.

// defaultParticipantPorts is the block size when Config leaves it zero: a
// session runs at most -max-servers (20) servers at once, so 20 ports let
// a participant run all of them (a proxy takes one port, like any server;
// the pool picks round-robin inside the block, so a port just closed is
// not the next one taken), and the default lab range of 1000 ports holds
// 50 participants (200 need -lab-ports 20000-23999).
const defaultParticipantPorts = 20

// portBlockStore is what blocks need of the recording (sessions.Store).
type portBlockStore interface {
	JoinWithPorts(ctx context.Context, w sessions.Workshop, name, oldHash, newHash string, lab engine.PortRange, size int) (sessions.Participant, sessions.Session, sessions.SessionPorts, []string, error)
	AssignPortBlock(ctx context.Context, session string, lab engine.PortRange, size int) (sessions.SessionPorts, []string, error)
	PortBlocks(ctx context.Context) ([]sessions.SessionPorts, error)
	PortBlockOf(ctx context.Context, session string) (sessions.SessionPorts, error)
	SetWorkshopOpenLab(ctx context.Context, id string, open bool) error
	WorkshopOpenLab(ctx context.Context, id string) (bool, error)
	OpenLabs(ctx context.Context) ([]string, error)
}

// blockLab is what blocks need of the lab (engine.Lab).
type blockLab interface {
	SetPortBlock(session string, b engine.PortBlock)
	PortBlockOf(session string) (engine.PortBlock, bool)
	SetOpenLab(group string, open bool)
}

// labBlocks is the Server's part for blocks; nil outside workshop mode (or
// with a store or lab that has none).
type labBlocks struct {
	store portBlockStore
	lab   blockLab
	size  int
}

// setupPortBlocks gives the lab every stored block and open lab back (at
// start, before restored servers bind) in workshop mode.
func (s *Server) setupPortBlocks(raw Lab) {
	if !s.cfg.Workshop {
		return
	}
	st, ok1 := s.store.(portBlockStore)
	lab, ok2 := raw.(blockLab)
	if !ok1 || !ok2 {
		return
	}
	if s.cfg.ParticipantPorts == 0 {
		s.cfg.ParticipantPorts = defaultParticipantPorts
	}
	if s.cfg.ParticipantPorts < 0 {
		return // -participant-ports -1: participants share the lab range
	}
	s.blocks = &labBlocks{store: st, lab: lab, size: s.cfg.ParticipantPorts}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := st.PortBlocks(ctx)
	if err != nil {
		s.log.Error("port blocks not loaded: participants' servers pick outside any block until they rejoin", "err", err)
	}
	for _, sp := range list {
		lab.SetPortBlock(sp.Session, engine.PortBlock{Ports: sp.Ports, Owner: sp.Owner, Group: sp.Workshop})
	}
	open, err := st.OpenLabs(ctx)
	if err != nil {
		s.log.Error("open labs not loaded", "err", err)
	}
	for _, id := range open {
		lab.SetOpenLab(id, true)
	}
	if n := s.lab.Ports(); n.Last-n.First+1 < s.cfg.ParticipantPorts {
		s.log.Warn("the lab range is smaller than one participant's block: nobody can join", "lab_ports", n.String(), "participant_ports", s.cfg.ParticipantPorts)
	}
}

// errNoPortBlock is a join refused because the lab range has no free block.
func errNoPortBlock(err *sessions.NoPortBlockError) error {
	return &apiError{status: http.StatusServiceUnavailable, msg: err.Error()}
}

// joinStore joins as the store's Join does, and gives the participant's
// session its block of ports (blocks of sessions of ended workshops are
// taken back from them).
func (s *Server) joinStore(ctx context.Context, wk sessions.Workshop, name, oldHash, newHash string) (sessions.Participant, sessions.Session, error) {
	if s.blocks == nil {
		return s.ws.store.Join(ctx, wk, name, oldHash, newHash)
	}
	p, sess, sp, displaced, err := s.blocks.store.JoinWithPorts(ctx, wk, name, oldHash, newHash, s.lab.Ports(), s.blocks.size)
	var full *sessions.NoPortBlockError
	if errors.As(err, &full) {
		s.log.Warn("workshop full: a participant could not join, no block of lab ports is free", "workshop", wk.ID, "name", name, "err", err)
		return p, sess, errNoPortBlock(full)
	}
	if err != nil {
		return p, sess, err
	}
	s.giveBlock(sp, displaced)
	return p, sess, nil
}

// assignBlock gives a participant's new session (beyond the first) a block.
func (s *Server) assignBlock(ctx context.Context, sess sessions.Session, p *sessions.Participant) error {
	if s.blocks == nil || p == nil {
		return nil
	}
	sp, displaced, err := s.blocks.store.AssignPortBlock(ctx, sess.ID, s.lab.Ports(), s.blocks.size)
	var full *sessions.NoPortBlockError
	if errors.As(err, &full) {
		return errNoPortBlock(full)
	}
	if err != nil {
		return err
	}
	sp.Owner, sp.Workshop = p.Name, p.WorkshopID
	s.giveBlock(sp, displaced)
	return nil
}

// giveBlock tells the lab of a session's block, and takes it from the
// sessions (of ended workshops) that held it, stopping what still runs there.
func (s *Server) giveBlock(sp sessions.SessionPorts, displaced []string) {
	for _, d := range displaced {
		for _, i := range s.lab.Servers(d) {
			if i.State == engine.StateRunning {
				s.lab.StopServer(d, i.ID)
			}
		}
		s.blocks.lab.SetPortBlock(d, engine.PortBlock{})
	}
	s.blocks.lab.SetPortBlock(sp.Session, engine.PortBlock{Ports: sp.Ports, Owner: sp.Owner, Group: sp.Workshop})
}

// sessionBlock returns session's block ("ok" false: none).
func (s *Server) sessionBlock(session string) (engine.PortBlock, bool) {
	if s.blocks == nil {
		return engine.PortBlock{}, false
	}
	return s.blocks.lab.PortBlockOf(session)
}

// blockText writes a block as the page shows it: "20040–20059".
func blockText(r engine.PortRange) string { return fmt.Sprintf("%d–%d", r.First, r.Last) }

// setOpenLab opens or closes the lab of the workshop of the URL.
func (s *Server) setOpenLab(r *http.Request, open bool) (sessions.Workshop, error) {
	wk, err := s.workshopParam(r)
	if err != nil {
		return wk, err
	}
	if !wk.EndedAt.IsZero() {
		return wk, errEndedNoChange
	}
	if s.blocks == nil {
		return wk, &apiError{status: http.StatusConflict, msg: "participants have no port blocks of their own here (-participant-ports -1): the lab is open to all of them already"}
	}
	if err := s.blocks.store.SetWorkshopOpenLab(r.Context(), wk.ID, open); err != nil {
		return wk, err
	}
	s.blocks.lab.SetOpenLab(wk.ID, open)
	s.log.Info("workshop open lab", "workshop", wk.ID, "open", open)
	return wk, nil
}

// workshopOpenLab reports whether the lab of workshop id is open.
func (s *Server) workshopOpenLab(ctx context.Context, id string) bool {
	if s.blocks == nil {
		return false
	}
	open, _ := s.blocks.store.WorkshopOpenLab(ctx, id)
	return open
}

// handleOpenLab is POST /api/workshops/{wid}/open-lab {"open": true|false}.
func (s *Server) handleOpenLab(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Open *bool `json:"open"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Open == nil {
		return badRequest(`say "open": true (participants may reach each other's servers, for pair exercises) or false (each reaches only their own)`)
	}
	wk, err := s.setOpenLab(r, *in.Open)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"workshop": wk.ID, "open_lab": *in.Open})
}

// formOpenLab is the dashboard's Open lab / Close lab button.
func (s *Server) formOpenLab(r *http.Request) error {
	_, err := s.setOpenLab(r, r.PostFormValue("open") == "1")
	return err
}

// lessonPortNotice says why a lesson's server is not on the port the lesson
// (and its tutorial) names. In a workshop the tutorial ports are off: it
// says which line of the tutorial's program to change.
func (s *Server) lessonPortNotice(session string, port int, name, addr string) string {
	b, ok := s.sessionBlock(session)
	if !ok {
		return fmt.Sprintf("Port %d was not free (another session has it, or this sockplay does not offer it), so %s listens on %s instead: the commands below use that port.", port, name, addr)
	}
	_, p, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("Tutorial ports are off in this workshop (one port cannot serve the whole room): %s listens on %s, one of your ports (%s). In the tutorial's program change the line `PORT = %d` to `PORT = %s` (and `HOST = \"127.0.0.1\"` to the address above); the commands below use it already.",
		name, addr, blockText(b.Ports), port, p)
}

// lessonOnLabHost writes a workshop's LAN lab host in a lesson's commands
// where they say 127.0.0.1: on a participant's own laptop 127.0.0.1 is the
// laptop, not the lab.
func (s *Server) lessonOnLabHost(session string, lv *lessonView) {
	if _, ok := s.sessionBlock(session); !ok {
		return
	}
	ip := net.ParseIP(s.cfg.LabHost)
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return
	}
	fix := func(t string) string { return strings.ReplaceAll(t, "127.0.0.1", s.cfg.LabHost) }
	lv.Intro = fix(lv.Intro)
	for i := range lv.Steps {
		lv.Steps[i].Do, lv.Steps[i].Hint, lv.Steps[i].Text = fix(lv.Steps[i].Do), fix(lv.Steps[i].Hint), fix(lv.Steps[i].Text)
	}
}
