package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler serves /metrics in the Prometheus text format: the
// recorder's counters, open sockets, live viewers, and per open workshop its
// participants and whether it is frozen, plus the Go runtime's and the
// process's own. main serves it on -metrics-addr only (off by default), so
// it is never on the participants' address.
func (s *Server) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), metricsCollector{s})
	if s.commits != nil {
		reg.MustRegister(s.commits.latency, s.commits.batch)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 10 * time.Second})
}

var (
	mRecorded  = prometheus.NewDesc("sockplay_events_recorded_total", "Events committed to the database.", nil, nil)
	mWaits     = prometheus.NewDesc("sockplay_backpressure_waits_total", "Times a socket waited because the recorder's queue was full.", nil, nil)
	mDropped   = prometheus.NewDesc("sockplay_events_dropped_total", "Events of deleted or unknown sessions, not recorded.", nil, nil)
	mLost      = prometheus.NewDesc("sockplay_events_lost_total", "Events lost while the database failed (past the held buffer).", nil, nil)
	mQueued    = prometheus.NewDesc("sockplay_recorder_queue", "Events waiting for the database.", nil, nil)
	mFailing   = prometheus.NewDesc("sockplay_recorder_failing", "1 while writes to the database fail.", nil, nil)
	mSockets   = prometheus.NewDesc("sockplay_open_sockets", "Open lab sockets: listeners, accepted connections and clients.", nil, nil)
	mMaxSock   = prometheus.NewDesc("sockplay_max_sockets", "The limit on open lab sockets (0: none).", nil, nil)
	mViewers   = prometheus.NewDesc("sockplay_live_viewers", "Live WebSocket viewers of all sessions.", nil, nil)
	mPeople    = prometheus.NewDesc("sockplay_workshop_participants", "Participants who joined the workshop.", []string{"workshop"}, nil)
	mFrozen    = prometheus.NewDesc("sockplay_workshop_frozen", "1 while the workshop is frozen.", []string{"workshop"}, nil)
	mNotKept   = prometheus.NewDesc("sockplay_events_not_kept_total", "Events not kept because their session reached -session-max-events or -session-max-bytes.", nil, nil)
	mHeld      = prometheus.NewDesc("sockplay_recorder_held", "Events held in memory while the database fails.", nil, nil)
	mByKind    = prometheus.NewDesc("sockplay_open_sockets_by_kind", "Open lab sockets by the kind of server or client holding them (a server's listener and accepted connections; a client's connections).", []string{"side", "kind"}, nil)
	mGaps      = prometheus.NewDesc("sockplay_live_gap_notices_total", "Gap notices sent to live viewers that fell behind (they fetch the skipped events from the API).", nil, nil)
	mGapEvs    = prometheus.NewDesc("sockplay_live_gap_events_total", "Events the gap notices skipped.", nil, nil)
	mRefused   = prometheus.NewDesc("sockplay_quota_refusals_total", "Starts, opens, connections and sessions refused by a quota: sessions (-max-participant-sessions), servers (-max-servers), clients (-max-clients), sockets (-participant-max-sockets), max-sockets (-max-sockets).", []string{"quota"}, nil)
	mAllPeople = prometheus.NewDesc("sockplay_participants", "Participants of all open workshops.", nil, nil)
)

// metricsCollector reads the counters at each scrape.
type metricsCollector struct{ s *Server }

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mRecorded, mWaits, mDropped, mLost, mQueued, mFailing, mSockets, mMaxSock, mViewers, mPeople, mFrozen,
		mNotKept, mHeld, mByKind, mGaps, mGapEvs, mRefused, mAllPeople} {
		ch <- d
	}
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.recorder.Stats()
	ch <- prometheus.MustNewConstMetric(mRecorded, prometheus.CounterValue, float64(st.Committed))
	ch <- prometheus.MustNewConstMetric(mWaits, prometheus.CounterValue, float64(st.Waits))
	ch <- prometheus.MustNewConstMetric(mDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(mLost, prometheus.CounterValue, float64(st.Lost))
	ch <- prometheus.MustNewConstMetric(mQueued, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(mFailing, prometheus.GaugeValue, b2f(st.Failing))
	ch <- prometheus.MustNewConstMetric(mNotKept, prometheus.CounterValue, float64(st.NotKept))
	ch <- prometheus.MustNewConstMetric(mHeld, prometheus.GaugeValue, float64(st.Held))
	for key, n := range s.lab.OpenSocketsByKind() {
		side, kind, _ := strings.Cut(key, "/")
		ch <- prometheus.MustNewConstMetric(mByKind, prometheus.GaugeValue, float64(n), side, kind)
	}
	ch <- prometheus.MustNewConstMetric(mGaps, prometheus.CounterValue, float64(s.stats.gaps.Load()))
	ch <- prometheus.MustNewConstMetric(mGapEvs, prometheus.CounterValue, float64(s.stats.gapEvents.Load()))
	refused := s.lab.QuotaRefusals()
	refused["sessions"] = s.stats.sessionRefusals.Load()
	for _, q := range quotaNames {
		ch <- prometheus.MustNewConstMetric(mRefused, prometheus.CounterValue, float64(refused[q]), q)
	}
	open, maxOpen := s.lab.OpenSockets()
	ch <- prometheus.MustNewConstMetric(mSockets, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(mMaxSock, prometheus.GaugeValue, float64(maxOpen))
	s.subsMu.Lock()
	viewers := 0
	for _, n := range s.subs {
		viewers += n
	}
	s.subsMu.Unlock()
	ch <- prometheus.MustNewConstMetric(mViewers, prometheus.GaugeValue, float64(viewers))
	if !s.cfg.Workshop {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := s.ws.store.Workshops(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(mPeople, err)
		return
	}
	now := time.Now()
	all := 0
	defer func() { ch <- prometheus.MustNewConstMetric(mAllPeople, prometheus.GaugeValue, float64(all)) }()
	for _, wk := range list {
		if !wk.Open(now) {
			continue
		}
		ps, err := s.ws.store.Participants(ctx, wk.ID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(mPeople, err)
			return
		}
		all += len(ps)
		ch <- prometheus.MustNewConstMetric(mPeople, prometheus.GaugeValue, float64(len(ps)), wk.ID)
		ch <- prometheus.MustNewConstMetric(mFrozen, prometheus.GaugeValue, b2f(wk.Frozen), wk.ID)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
