package engine

import (
	"log/slog"
	"maps"
	"sync/atomic"
	"time"
)

// The quotas a session's lab state enforces (Quota), counted when they
// refuse something: the metrics show them by quota.
const (
	QuotaServers    = "servers"     // Quota.Servers (-max-servers)
	QuotaClients    = "clients"     // Quota.Clients (-max-clients)
	QuotaSockets    = "sockets"     // Quota.Sockets (-participant-max-sockets)
	QuotaLabSockets = "max-sockets" // the lab's LabConfig.MaxSockets, all sessions together
)

// QuotaNames are the quotas QuotaRefusals counts.
var QuotaNames = []string{QuotaServers, QuotaClients, QuotaSockets, QuotaLabSockets}

type quotaCounts struct {
	servers, clients, sockets, labSockets atomic.Int64
}

func (q *quotaCounts) of(name string) *atomic.Int64 {
	switch name {
	case QuotaServers:
		return &q.servers
	case QuotaClients:
		return &q.clients
	case QuotaSockets:
		return &q.sockets
	default:
		return &q.labSockets
	}
}

// QuotaRefusals returns how many starts, opens and connections each quota
// refused since the lab started, by quota name (QuotaNames).
func (l *Lab) QuotaRefusals() map[string]int64 {
	out := make(map[string]int64, len(QuotaNames))
	for _, n := range QuotaNames {
		out[n] = l.quotas.of(n).Load()
	}
	return out
}

// QuotaRefusalsOf returns what each quota refused in session since the lab
// started (by quota name; empty: nothing), for the workshop dashboard.
func (l *Lab) QuotaRefusalsOf(session string) map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	if sl := l.find(session); sl != nil {
		maps.Copy(out, sl.refusals)
	}
	return out
}

// refusalLogEvery bounds the log lines of refusals: a flood of connections
// past a quota is one line a second, not one per connection (each refused
// connection is an event of its session).
const refusalLogEvery = time.Second

// refused counts a refusal by quota and logs it on session's logger (at
// most one line a session every refusalLogEvery).
func (l *Lab) refused(session, quota string) {
	l.quotas.of(quota).Add(1)
	now := time.Now()
	l.mu.Lock()
	sl := l.find(session)
	if sl != nil {
		if sl.refusals == nil {
			sl.refusals = map[string]int64{}
		}
		sl.refusals[quota]++
	}
	if sl == nil || now.Sub(sl.logged) < refusalLogEvery {
		l.mu.Unlock()
		return
	}
	sl.logged = now
	log := sl.log
	l.mu.Unlock()
	if log == nil {
		log = l.log.With("session", session)
	}
	log.Warn("quota reached: refused", "quota", quota)
}

// refusedSocket counts a socket refused by full (a session's count: its
// quota; the lab's: -max-sockets).
func (l *Lab) refusedSocket(session string, full *sockets) {
	if full.parent != nil {
		l.refused(session, QuotaSockets)
	} else {
		l.refused(session, QuotaLabSockets)
	}
}

// SetQuota replaces session's quota (a workshop participant's session gets
// the participant's). It acts on what is started or opened from now on;
// lowering Sockets closes nothing that is open. EventRate applies at once
// to the session's sockets.
func (l *Lab) SetQuota(session string, q Quota) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.session(session)
	if sl.gone {
		return
	}
	sl.quota = q
	sl.socks.quota.Store(int64(q.Sockets))
	if q.EventRate > 0 && sl.pace == nil {
		// A lab without an event budget paces nothing; a session with a
		// rate quota needs a pacer all the same.
		if l.budget == nil {
			l.budget = newBudgetOnlyQuotas()
		}
		sl.pace = l.budget.join(float64(q.EventRate))
		return
	}
	l.budget.setCap(sl.pace, float64(q.EventRate))
}

// QuotaOf returns session's quota and the sockets it holds open now.
func (l *Lab) QuotaOf(session string) (q Quota, openSockets int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.find(session)
	if sl == nil {
		return Quota{Servers: l.cfg.MaxServersPerSession, Clients: l.cfg.MaxClientsPerSession}, 0
	}
	return sl.quota, sl.socks.open.Load()
}

// SetSessionLog gives session's lines of the lab a logger of their own
// (workshop mode: one that names the workshop and the participant). log
// should already name the session.
func (l *Lab) SetSessionLog(session string, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.session(session); !sl.gone {
		sl.log = log
	}
}

// SessionLog returns the logger of session's lines: the one SetSessionLog
// gave, else the lab's with the session's id.
func (l *Lab) SessionLog(session string) *slog.Logger {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.find(session); sl != nil && sl.log != nil {
		return sl.log
	}
	return l.log.With("session", session)
}

// OpenSocketsByKind counts the open sockets of every session by the kind
// of the server or client that holds them: a server's listener (or UDP
// socket) and the connections it accepted count under "server" and its
// kind, a client's connections under "client" and its kind. The keys are
// "server/tcp-echo", "client/tcp"…
func (l *Lab) OpenSocketsByKind() map[string]int64 {
	type owner struct {
		key, id  string
		listener bool
	}
	var owners []owner
	l.mu.Lock()
	for _, sl := range l.sessions {
		for id, s := range sl.servers {
			owners = append(owners, owner{key: "server/" + s.Info().Kind, id: id, listener: true})
		}
		for id, c := range sl.clients {
			if c.Info().State != StateClosed {
				owners = append(owners, owner{key: "client/" + c.Info().Kind, id: id})
			}
		}
	}
	l.mu.Unlock()
	out := map[string]int64{}
	openConns.mu.Lock()
	for _, o := range owners {
		n := int64(len(openConns.byOwner[o.id]))
		if o.listener {
			n++
		}
		out[o.key] += n
	}
	openConns.mu.Unlock()
	return out
}
