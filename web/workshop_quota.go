package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// Quotas per participant (docs/workshop.md, "Quotas"). A participant has
// at most Config.MaxParticipantSessions sessions (1 by default), so the
// per-session limits bound each participant: servers and clients
// (-max-servers, -max-clients), what their session stores (the disk
// budget's -session-max-events and -session-max-bytes: one loss event
// says so, later events are counted, not kept), and, set here on the lab
// for each participant's session, its open sockets and its events a second
// (its fair share of -event-budget, capped by -participant-max-event-rate).

// Workshop mode's defaults for the participants' quotas (Config fields
// left zero; -1 is no limit).
const (
	defaultParticipantSockets   = 256
	defaultParticipantEventRate = 2000
)

// quotaDefaults fills the participants' quotas left zero.
func quotaDefaults(cfg *Config) {
	if cfg.ParticipantMaxSockets == 0 {
		cfg.ParticipantMaxSockets = defaultParticipantSockets
	}
	if cfg.ParticipantMaxEventRate == 0 {
		cfg.ParticipantMaxEventRate = defaultParticipantEventRate
	}
}

func positive(n int) int { return max(n, 0) }

// applyParticipant gives a participant's session its quota and its logger
// on the lab (before each start and open, and at join: idempotent).
func (s *Server) applyParticipant(session string, p sessions.Participant) {
	q, _ := s.lab.QuotaOf(session)
	q.Sockets, q.EventRate = positive(s.cfg.ParticipantMaxSockets), positive(s.cfg.ParticipantMaxEventRate)
	s.lab.SetQuota(session, q)
	s.lab.SetSessionLog(session, s.participantLog(p).With("session", session))
}

// participantLog is the logger of the lines that concern participant p:
// each names the workshop and the participant.
func (s *Server) participantLog(p sessions.Participant) *slog.Logger {
	return s.log.With("workshop", p.WorkshopID, "participant", p.ID)
}

// logFor is the logger of r's lines: a participant's request names the
// workshop and the participant.
func (s *Server) logFor(r *http.Request) *slog.Logger {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok && c.participant != nil {
		return s.participantLog(*c.participant)
	}
	return s.log
}

// webStats are the web layer's counters for /metrics.
type webStats struct {
	sessionRefusals atomic.Int64 // participants refused a session (-max-participant-sessions)
	gaps            atomic.Int64 // gap notices sent to live viewers
	gapEvents       atomic.Int64 // events those gaps skipped
}

// countGap counts a gap notice of from..to sent to a live viewer.
func (st *webStats) countGap(g *sessions.Gap) {
	st.gaps.Add(1)
	st.gapEvents.Add(max(g.To-g.From+1, 0))
}

// CommitStats measures the recorder's commits for /metrics: pass Observe
// as sessions.RecorderConfig.OnCommit and the CommitStats in Deps.
type CommitStats struct {
	latency prometheus.Histogram
	batch   prometheus.Histogram
}

// NewCommitStats returns empty commit histograms.
func NewCommitStats() *CommitStats {
	return &CommitStats{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sockplay_recorder_commit_seconds",
			Help:    "How long the recorder's commits take (one transaction: the events' chunks, then the fsync).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5}}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sockplay_recorder_commit_events",
			Help:    "Events per recorder commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
	}
}

// Observe records one commit (sessions.RecorderConfig.OnCommit).
func (c *CommitStats) Observe(d time.Duration, events int) {
	c.latency.Observe(d.Seconds())
	c.batch.Observe(float64(events))
}

// quotaNames are the quotas sockplay_quota_refusals_total counts: the
// lab's and the participants' sessions.
var quotaNames = append([]string{"sessions"}, engine.QuotaNames...)

// ApplyParticipantQuotas gives every participant's session of the open
// workshops its quota and logger: main calls it before it starts the
// recorded servers again after a restart, so they run under the quotas
// from their first accept.
func (s *Server) ApplyParticipantQuotas(ctx context.Context) error {
	if !s.cfg.Workshop {
		return nil
	}
	list, err := s.ws.store.Workshops(ctx)
	if err != nil {
		return err
	}
	for _, wk := range list {
		if !wk.Open(time.Now()) {
			continue
		}
		ps, err := s.ws.store.WorkshopSessions(ctx, wk.ID)
		if err != nil {
			return err
		}
		for _, x := range ps {
			s.applyParticipant(x.Session.ID, x.Participant)
		}
	}
	return nil
}
