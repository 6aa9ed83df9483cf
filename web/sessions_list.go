package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web/lessons"
)

// The session list (GET /api/sessions and the home page): each session
// with its last activity, event count and size on disk, and what the disk
// budget is and did. Renaming is PATCH /api/sessions/{id} {"name"}.

// usageStore is what the list and rename need of the store beyond Store.
type usageStore interface {
	Usage(ctx context.Context, ids []string) (map[string]sessions.SessionUsage, error)
	RenameSession(ctx context.Context, id, name string) (sessions.Session, error)
	FileSize(ctx context.Context) (sessions.FileSize, error)
}

// sessionItem is a session as the list shows it.
type sessionItem struct {
	sessions.Session
	sessions.SessionUsage
	// LastActivity is the newest event's time, or the creation's.
	LastActivity time.Time `json:"last_activity"`
}

// budgetView is the disk budget, for the page and the API.
type budgetView struct {
	MaxSessionEvents int64 `json:"max_session_events,omitempty"`
	MaxSessionBytes  int64 `json:"max_session_bytes,omitempty"`
	MaxDBBytes       int64 `json:"max_db_bytes,omitempty"`
	MaxAgeSeconds    int64 `json:"max_age_seconds,omitempty"`
	MaxImportBytes   int64 `json:"max_import_bytes"`
	// Used is the bytes the database's pages hold now.
	Used int64 `json:"used"`
}

// homeView is the home page.
type homeView struct {
	Items  []sessionItem
	Next   string
	Older  bool
	Budget budgetView
	// Retention is the last pass that deleted sessions of the caller's.
	Retention sessions.RetentionReport
	// Lessons are the guided lessons offered.
	Lessons []*lessons.Lesson
}

func (s *Server) budget(ctx context.Context) budgetView {
	b := s.cfg.Budget
	v := budgetView{MaxSessionEvents: b.MaxSessionEvents, MaxSessionBytes: b.MaxSessionBytes, MaxImportBytes: s.maxImportBytes()}
	if b.Retention != nil {
		c := b.Retention.Config()
		v.MaxDBBytes, v.MaxAgeSeconds = c.MaxBytes, int64(c.MaxAge/time.Second)
	}
	if us, ok := s.store.(usageStore); ok {
		if f, err := us.FileSize(ctx); err == nil {
			v.Used = f.Used
		}
	}
	return v
}

// retentionOf is the last retention pass, reduced to r's caller's sessions
// (in workshop mode nobody learns the names of another's).
func (s *Server) retentionOf(r *http.Request) sessions.RetentionReport {
	if s.cfg.Budget.Retention == nil {
		return sessions.RetentionReport{}
	}
	rep := s.cfg.Budget.Retention.Last()
	owner := ""
	if s.cfg.Workshop {
		c, err := s.callerOf(r)
		if err != nil || !c.known() {
			return sessions.RetentionReport{}
		}
		owner = c.owner()
	}
	var mine []sessions.Deleted
	for _, d := range rep.Deleted {
		if d.Owner == owner {
			mine = append(mine, d)
		}
	}
	rep.Deleted = mine
	if len(mine) == 0 {
		return sessions.RetentionReport{}
	}
	return rep
}

// listItems is one page of the caller's sessions with their usage.
func (s *Server) listItems(r *http.Request) ([]sessionItem, string, error) {
	list, next, err := s.listSessions(r)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(list))
	for i, sess := range list {
		ids[i] = sess.ID
	}
	var usage map[string]sessions.SessionUsage
	if us, ok := s.store.(usageStore); ok {
		if usage, err = us.Usage(r.Context(), ids); err != nil {
			return nil, "", err
		}
	}
	items := make([]sessionItem, len(list))
	for i, sess := range list {
		items[i] = sessionItem{Session: sess, SessionUsage: usage[sess.ID], LastActivity: sess.CreatedAt}
		if sess.LastAt.After(sess.CreatedAt) {
			items[i].LastActivity = sess.LastAt
		}
	}
	return items, next, nil
}

func (s *Server) handleListSessionsWithUsage(w http.ResponseWriter, r *http.Request) error {
	items, next, err := s.listItems(r)
	if err != nil {
		return err
	}
	out := map[string]any{"sessions": items, "budget": s.budget(r.Context())}
	if next != "" {
		out["next"] = next // pass as before= for the next page
	}
	if rep := s.retentionOf(r); len(rep.Deleted) > 0 {
		out["retention"] = rep
	}
	return respond(w, http.StatusOK, out)
}

func (s *Server) handleRenameSession(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Name *string `json:"name"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return badRequest(`send {"name": "…"}: the new name of the session`)
	}
	us, ok := s.store.(usageStore)
	if !ok {
		return &apiError{status: http.StatusNotImplemented, msg: "this sockplay cannot rename sessions"}
	}
	out, err := us.RenameSession(r.Context(), sess.ID, *in.Name)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, out)
}

// renderHome is the home page: the caller's sessions, new and import.
func (s *Server) renderHome(w http.ResponseWriter, r *http.Request) error {
	items, next, err := s.listItems(r)
	if err != nil {
		return err
	}
	v := homeView{Items: items, Next: next, Older: r.URL.Query().Get("before") != "", Budget: s.budget(r.Context()),
		Retention: s.retentionOf(r)}
	if s.lessons != nil {
		v.Lessons = s.lessons.Catalog().Lessons()
	}
	return render(w, r, homePage(v))
}

// ageText is a max age as a person says it: 30 days, 12 hours, 45 minutes.
func ageText(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return itoa(int64(d/(24*time.Hour))) + " days"
	case d >= 2*time.Hour && d%time.Hour == 0:
		return itoa(int64(d/time.Hour)) + " hours"
	case d >= time.Minute && d%time.Minute == 0:
		return itoa(int64(d/time.Minute)) + " minutes"
	}
	return d.String()
}

// capText is the per-session cap: "1,000,000 events or 128.0 MB".
func capText(b budgetView) string {
	var parts []string
	if b.MaxSessionEvents > 0 {
		parts = append(parts, groupDigits(b.MaxSessionEvents)+" events")
	}
	if b.MaxSessionBytes > 0 {
		parts = append(parts, sessions.FormatBytes(b.MaxSessionBytes))
	}
	return strings.Join(parts, " or ")
}

// groupDigits writes n with thousands separators: 1,000,000.
func groupDigits(n int64) string {
	s := itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// budgetText is the home page's line on the disk budget.
func budgetText(b budgetView) string {
	t := "Disk budget: the database holds " + sessions.FormatBytes(b.Used)
	if b.MaxDBBytes > 0 {
		t += " of " + sessions.FormatBytes(b.MaxDBBytes)
	}
	if b.MaxAgeSeconds > 0 {
		t += "; sessions are kept for " + ageText(b.MaxAgeSeconds) + " after their last activity"
	}
	if b.MaxSessionEvents > 0 || b.MaxSessionBytes > 0 {
		t += "; each session records up to " + capText(b)
	}
	t += "."
	if b.MaxDBBytes > 0 || b.MaxAgeSeconds > 0 {
		t += " Past the budget the sessions active longest ago are deleted first, never one with a running server or client."
	}
	return t
}
