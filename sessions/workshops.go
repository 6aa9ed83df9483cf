package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sockplay/sockplay/engine"
)

// Workshop mode (see docs/workshop.md): an instructor creates workshops, a
// participant joins one with its code and gets a session of their own. A
// session's Owner says whose it is: "" for the person at the laptop (workshop
// mode off), a participant's id, or OwnerInstructor.

// OwnerInstructor owns the sessions the instructor creates.
const OwnerInstructor = "instructor"

// Workshop is one class: its participants join with Code.
type Workshop struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Code is the join code as people read it: "K7P-Q2M".
	Code      string    `json:"code"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Frozen workshops refuse new servers and clients (what runs goes on).
	Frozen bool `json:"frozen"`
	// Message is the instructor's broadcast, shown as a banner on every
	// participant's page ("" none), sent at MessageAt.
	Message   string    `json:"message,omitempty"`
	MessageAt time.Time `json:"message_at,omitzero"`
	// Faults are pushed to every participant's servers, those started
	// later included.
	Faults []WorkshopFault `json:"faults"`
	// SpotlightSession is the participant's session the instructor shows to
	// everyone ("" none), through the share link SpotlightToken.
	SpotlightSession string `json:"spotlight_session,omitempty"`
	SpotlightToken   string `json:"-"`
}

// WorkshopFault is a fault the instructor pushed to every participant: it
// is added (as Spec, named Spec.Name) to each running server whose kind is in
// Kinds (empty: every kind the fault fits), and to each such server started
// while it is pushed.
type WorkshopFault struct {
	Spec     engine.FaultSpec `json:"spec"`
	Kinds    []string         `json:"kinds,omitempty"`
	PushedAt time.Time        `json:"pushed_at"`
}

// MaxMessageLen bounds a broadcast message.
const MaxMessageLen = 500

// CheckMessage returns a broadcast message trimmed, or an ErrInvalid error
// saying what is wrong with it ("" clears the banner).
func CheckMessage(msg string) (string, error) {
	msg = strings.TrimSpace(msg)
	switch {
	case !utf8.ValidString(msg):
		return "", fmt.Errorf("%w: the message is not valid UTF-8", ErrInvalid)
	case utf8.RuneCountInString(msg) > MaxMessageLen:
		return "", fmt.Errorf("%w: the message is longer than %d characters (it is a banner: keep it short)", ErrInvalid, MaxMessageLen)
	}
	if i := strings.IndexFunc(msg, func(r rune) bool { return r != '\n' && unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
		return "", fmt.Errorf("%w: the message has a control or invisible formatting character at byte %d; use printable text", ErrInvalid, i)
	}
	return msg, nil
}

// Open reports whether participants may join w at now.
func (w Workshop) Open(now time.Time) bool {
	return w.EndedAt.IsZero() && (w.ExpiresAt.IsZero() || now.Before(w.ExpiresAt))
}

// Participant is one browser that joined a workshop.
type Participant struct {
	ID         string    `json:"id"`
	WorkshopID string    `json:"workshop_id"`
	Name       string    `json:"name"`
	SessionID  string    `json:"session"`
	CreatedAt  time.Time `json:"created_at"`
	// Closed says the workshop has ended or expired (set by
	// ParticipantByToken): the participant's sessions are read-only.
	Closed bool `json:"closed,omitempty"`
}

// codeAlphabet is the join codes' letters and digits: no 0/O nor 1/I, which
// a projector or a voice confuses. 32 symbols, 5 bits each.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// codeLen is a join code's length without its dash (30 bits: a workshop's
// code is found by typing, so the join endpoint is rate-limited per address).
const codeLen = 6

// NewJoinCode returns a random join code such as "K7P-Q2M".
func NewJoinCode() string {
	var b [codeLen]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = codeAlphabet[b[i]%byte(len(codeAlphabet))] // 256 is a multiple of 32: uniform
	}
	return FormatCode(string(b[:]))
}

// FormatCode writes a join code as people read it: "K7PQ2M" is "K7P-Q2M".
func FormatCode(code string) string {
	if len(code) != codeLen {
		return code
	}
	return code[:3] + "-" + code[3:]
}

// NormalizeCode reads a join code as people type it (any case, with or
// without the dash or spaces) and returns it without the dash, or an
// ErrInvalid error saying what a code looks like.
func NormalizeCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(codeAlphabet, r):
			b.WriteRune(r)
		case r == '0' || r == 'O' || r == '1' || r == 'I':
			return "", fmt.Errorf("%w: join codes have no %q (they leave out 0, O, 1 and I, which look alike); check the code your instructor shows", ErrInvalid, r)
		default:
			return "", fmt.Errorf("%w: a join code is six letters and digits such as K7P-Q2M; %q is not one of them", ErrInvalid, r)
		}
	}
	if b.Len() != codeLen {
		return "", fmt.Errorf("%w: a join code is six letters and digits such as K7P-Q2M (this one has %d)", ErrInvalid, b.Len())
	}
	return b.String(), nil
}

// HashToken is how a participant's cookie is stored: its SHA-256, in hex.
// The cookie is 256 random bits, so a plain hash is enough (no salt or
// stretching: nobody can guess it from the hash).
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// MaxDisplayNameLen bounds a participant's display name.
const MaxDisplayNameLen = 60

// CheckDisplayName returns a participant's display name trimmed, or an
// ErrInvalid error saying what is wrong with it.
func CheckDisplayName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: type a display name: the instructor sees it on the dashboard", ErrInvalid)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: the display name is not valid UTF-8", ErrInvalid)
	case utf8.RuneCountInString(name) > MaxDisplayNameLen:
		return "", fmt.Errorf("%w: the display name is longer than %d characters", ErrInvalid, MaxDisplayNameLen)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
		return "", fmt.Errorf("%w: the display name has a control or invisible formatting character at byte %d; use printable text", ErrInvalid, i)
	}
	return name, nil
}

func newID(prefix string) string { return prefix + newSessionID() }

func unixOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// CreateWorkshop creates a workshop with a fresh join code; expires may be
// zero (no expiry).
func (s *Store) CreateWorkshop(ctx context.Context, name string, expires time.Time) (Workshop, error) {
	name, err := CheckName(name)
	if err != nil {
		return Workshop{}, err
	}
	if name == "" {
		name = "Workshop " + time.Now().UTC().Format("2006-01-02")
	}
	w := Workshop{ID: newID("w"), Name: name, CreatedAt: time.Now().UTC(), ExpiresAt: expires.UTC(), Faults: []WorkshopFault{}}
	if expires.IsZero() {
		w.ExpiresAt = time.Time{}
	}
	// A code is 30 bits: a collision is rare, and the UNIQUE index catches it.
	for range 8 {
		w.Code = NewJoinCode()
		_, err = s.db.ExecContext(ctx, `INSERT INTO workshops (id, name, code, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			w.ID, w.Name, strings.ReplaceAll(w.Code, "-", ""), w.CreatedAt.UnixNano(), nanosOrZero(w.ExpiresAt))
		if err == nil {
			return w, nil
		}
		if !strings.Contains(err.Error(), "UNIQUE") {
			break
		}
	}
	return Workshop{}, fmt.Errorf("create workshop: %w", err)
}

const workshopColumns = `id, name, code, created_at, expires_at, ended_at, frozen, message, message_at, faults, spotlight_session, spotlight_token`

func scanWorkshop(sc interface{ Scan(...any) error }) (Workshop, error) {
	var w Workshop
	var created, expires, ended, msgAt int64
	var faults string
	if err := sc.Scan(&w.ID, &w.Name, &w.Code, &created, &expires, &ended, &w.Frozen, &w.Message, &msgAt, &faults, &w.SpotlightSession, &w.SpotlightToken); err != nil {
		return Workshop{}, err
	}
	w.Code = FormatCode(w.Code)
	w.CreatedAt, w.ExpiresAt, w.EndedAt = time.Unix(0, created).UTC(), unixOrZero(expires), unixOrZero(ended)
	w.MessageAt = unixOrZero(msgAt)
	w.Faults = []WorkshopFault{}
	if err := json.Unmarshal([]byte(faults), &w.Faults); err != nil {
		return Workshop{}, fmt.Errorf("workshop %s: its pushed faults: %w", w.ID, err)
	}
	return w, nil
}

// Workshops lists every workshop, newest first.
func (s *Store) Workshops(ctx context.Context) ([]Workshop, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+workshopColumns+` FROM workshops ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list workshops: %w", err)
	}
	defer rows.Close()
	list := []Workshop{}
	for rows.Next() {
		w, err := scanWorkshop(rows)
		if err != nil {
			return nil, fmt.Errorf("list workshops: %w", err)
		}
		list = append(list, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workshops: %w", err)
	}
	return list, nil
}

// GetWorkshop returns one workshop or ErrNotFound.
func (s *Store) GetWorkshop(ctx context.Context, id string) (Workshop, error) {
	w, err := scanWorkshop(s.db.QueryRowContext(ctx, `SELECT `+workshopColumns+` FROM workshops WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Workshop{}, ErrNotFound
	}
	if err != nil {
		return Workshop{}, fmt.Errorf("get workshop %s: %w", id, err)
	}
	return w, nil
}

// WorkshopByCode returns the workshop whose join code is code (as typed:
// see NormalizeCode), or ErrNotFound.
func (s *Store) WorkshopByCode(ctx context.Context, code string) (Workshop, error) {
	c, err := NormalizeCode(code)
	if err != nil {
		return Workshop{}, err
	}
	w, err := scanWorkshop(s.db.QueryRowContext(ctx, `SELECT `+workshopColumns+` FROM workshops WHERE code = ?`, c))
	if errors.Is(err, sql.ErrNoRows) {
		return Workshop{}, ErrNotFound
	}
	if err != nil {
		return Workshop{}, fmt.Errorf("find workshop: %w", err)
	}
	return w, nil
}

const participantColumns = `id, workshop_id, name, session_id, created_at`

func scanParticipant(sc interface{ Scan(...any) error }) (Participant, error) {
	var p Participant
	var created int64
	if err := sc.Scan(&p.ID, &p.WorkshopID, &p.Name, &p.SessionID, &created); err != nil {
		return Participant{}, err
	}
	p.CreatedAt = time.Unix(0, created).UTC()
	return p, nil
}

// Participants lists a workshop's participants in the order they joined.
func (s *Store) Participants(ctx context.Context, workshopID string) ([]Participant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+participantColumns+` FROM participants
		WHERE workshop_id = ? ORDER BY created_at, id`, workshopID)
	if err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	defer rows.Close()
	list := []Participant{}
	for rows.Next() {
		p, err := scanParticipant(rows)
		if err != nil {
			return nil, fmt.Errorf("list participants: %w", err)
		}
		list = append(list, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	return list, nil
}

// ParticipantRow is a participant as the instructor's dashboard lists
// them: with their session (nil once they deleted it), its error events
// and the lesson it follows.
type ParticipantRow struct {
	Participant
	Session *Session
	// Errors counts the session's error events; LastError is the newest
	// (nil when there is none).
	Errors      int64
	LastError   *engine.SockErr
	LastErrorAt time.Time
	// Lesson is the id of the lesson the session follows ("" none).
	Lesson string
}

// ParticipantRows lists a workshop's participants in the order they
// joined, each with their session, in one query (the dashboard's, read
// every two seconds for up to 200 people).
func (s *Store) ParticipantRows(ctx context.Context, workshopID string) ([]ParticipantRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, p.workshop_id, p.name, p.session_id, p.created_at,
			s.id IS NOT NULL, COALESCE(s.name, ''), COALESCE(s.created_at, 0),
			`+sessionProgress+`,
			COALESCE(s.owner, ''), COALESCE(s.errors, 0), s.last_error, COALESCE(s.last_error_at, 0),
			COALESCE((SELECT lesson_id FROM session_lessons l WHERE l.session_id = s.id), '')
		FROM participants p LEFT JOIN sessions s ON s.id = p.session_id
		WHERE p.workshop_id = ? ORDER BY p.created_at, p.id`, workshopID)
	if err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	defer rows.Close()
	list := []ParticipantRow{}
	for rows.Next() {
		var pr ParticipantRow
		var sess Session
		var joined, created, last, errAt int64
		var exists bool
		var lastErr sql.NullString
		if err := rows.Scan(&pr.ID, &pr.WorkshopID, &pr.Name, &pr.SessionID, &joined,
			&exists, &sess.Name, &created, &sess.Events, &last, &sess.Owner, &pr.Errors, &lastErr, &errAt, &pr.Lesson); err != nil {
			return nil, fmt.Errorf("list participants: %w", err)
		}
		pr.CreatedAt = time.Unix(0, joined).UTC()
		if exists {
			sess.ID, sess.CreatedAt = pr.SessionID, time.Unix(0, created).UTC()
			if last != 0 {
				sess.LastAt = time.Unix(0, last).UTC()
			}
			pr.Session = &sess
		}
		if lastErr.Valid {
			var e engine.SockErr
			if err := json.Unmarshal([]byte(lastErr.String), &e); err != nil {
				// One unreadable value (only the recorder writes it) must not
				// take the whole dashboard down: the row says so instead.
				e = engine.SockErr{Errno: "?", Message: "the stored last error could not be read: " + err.Error()}
			}
			pr.LastError, pr.LastErrorAt = &e, time.Unix(0, errAt).UTC()
		}
		list = append(list, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	return list, nil
}

// ParticipantByToken returns the participant whose cookie hashes to
// tokenHash (see HashToken), or ErrNotFound. Closed says whether their
// workshop has ended or expired.
func (s *Store) ParticipantByToken(ctx context.Context, tokenHash string) (Participant, error) {
	var p Participant
	var created, expires, ended int64
	err := s.db.QueryRowContext(ctx, `SELECT p.id, p.workshop_id, p.name, p.session_id, p.created_at, w.expires_at, w.ended_at
		FROM participants p JOIN workshops w ON w.id = p.workshop_id WHERE p.token_hash = ?`, tokenHash).
		Scan(&p.ID, &p.WorkshopID, &p.Name, &p.SessionID, &created, &expires, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return Participant{}, ErrNotFound
	}
	if err != nil {
		return Participant{}, fmt.Errorf("find participant: %w", err)
	}
	p.CreatedAt = time.Unix(0, created).UTC()
	p.Closed = !Workshop{ExpiresAt: unixOrZero(expires), EndedAt: unixOrZero(ended)}.Open(time.Now())
	return p, nil
}

// EndWorkshop ends workshop id now (if it has not ended already): nobody
// joins it any more and its participants' sessions are read-only. It
// returns the workshop, or ErrNotFound.
func (s *Store) EndWorkshop(ctx context.Context, id string) (Workshop, error) {
	if _, err := s.db.ExecContext(ctx, `UPDATE workshops SET ended_at = ? WHERE id = ? AND ended_at = 0`, time.Now().UnixNano(), id); err != nil {
		return Workshop{}, fmt.Errorf("end workshop %s: %w", id, err)
	}
	return s.GetWorkshop(ctx, id)
}

// Join lets a browser into workshop w under the display name name, in one
// transaction. If oldHash (the hash of the cookie the browser already holds,
// or "") names a participant of w, that participant rejoins: its cookie
// becomes newHash (the old one stops working), its name is updated and it
// gets back its session (a new one if it was deleted). Otherwise a new
// participant with a new session is created. Either way the session is the
// participant's own (Owner is the participant's id).
func (s *Store) Join(ctx context.Context, w Workshop, name, oldHash, newHash string) (Participant, Session, error) {
	return s.join(ctx, w, name, oldHash, newHash, nil)
}

// join is Join; inTx (nil: none) runs in its transaction once the session
// is known (JoinWithPorts gives it its block there).
func (s *Store) join(ctx context.Context, w Workshop, name, oldHash, newHash string, inTx func(tx *sql.Tx, p Participant) error) (Participant, Session, error) {
	name, err := CheckDisplayName(name)
	if err != nil {
		return Participant{}, Session{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Participant{}, Session{}, fmt.Errorf("join: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	var p Participant
	found := false
	if oldHash != "" {
		p, err = scanParticipant(tx.QueryRowContext(ctx, `SELECT `+participantColumns+` FROM participants
			WHERE token_hash = ? AND workshop_id = ?`, oldHash, w.ID))
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, sql.ErrNoRows):
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
	}
	if !found {
		p = Participant{ID: newID("p"), WorkshopID: w.ID, Name: name, CreatedAt: now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO participants (id, workshop_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			p.ID, p.WorkshopID, p.Name, newHash, now.UnixNano()); err != nil {
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
	} else {
		p.Name = name
		if _, err := tx.ExecContext(ctx, `UPDATE participants SET token_hash = ?, name = ? WHERE id = ?`, newHash, name, p.ID); err != nil {
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
	}
	var sess Session
	if p.SessionID != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE id = ? AND owner = ?`, p.SessionID, p.ID).Scan(&n); err != nil {
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
		if n == 0 {
			p.SessionID = ""
		}
	}
	if p.SessionID == "" {
		sname, _ := CheckName(name + " · " + w.Name)
		if len(sname) > MaxNameLen {
			sname = name
		}
		sess = Session{ID: newSessionID(), Name: sname, CreatedAt: now, Owner: p.ID}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, name, created_at, owner) VALUES (?, ?, ?, ?)`,
			sess.ID, sess.Name, sess.CreatedAt.UnixNano(), sess.Owner); err != nil {
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
		p.SessionID = sess.ID
		if _, err := tx.ExecContext(ctx, `UPDATE participants SET session_id = ? WHERE id = ?`, p.SessionID, p.ID); err != nil {
			return Participant{}, Session{}, fmt.Errorf("join: %w", err)
		}
	}
	if inTx != nil {
		if err := inTx(tx, p); err != nil {
			return Participant{}, Session{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return Participant{}, Session{}, fmt.Errorf("join: %w", err)
	}
	if sess.ID == "" {
		if sess, err = s.GetSession(ctx, p.SessionID); err != nil {
			return Participant{}, Session{}, err
		}
	}
	return p, sess, nil
}

// CreateSessionFor creates a session that belongs to owner ("" is the
// laptop user, as CreateSession).
func (s *Store) CreateSessionFor(ctx context.Context, name, owner string) (Session, error) {
	name, err := CheckName(name)
	if err != nil {
		return Session{}, err
	}
	if name == "" {
		name = "Session " + time.Now().UTC().Format("2006-01-02 15:04")
	}
	sess := Session{ID: newSessionID(), Name: name, CreatedAt: time.Now().UTC(), Owner: owner}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id, name, created_at, owner) VALUES (?, ?, ?, ?)`,
		sess.ID, sess.Name, sess.CreatedAt.UnixNano(), sess.Owner); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// CountSessionsOf returns how many sessions owner has.
func (s *Store) CountSessionsOf(ctx context.Context, owner string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE owner = ?`, owner).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// ListSessionsOf is ListSessions restricted to the sessions owner has: the
// same order, page size and cursors.
func (s *Store) ListSessionsOf(ctx context.Context, owner, before string, limit int) (list []Session, next string, err error) {
	return s.listSessions(ctx, &owner, before, limit)
}

// SetWorkshopFrozen freezes (or unfreezes) workshop id and returns it, or
// ErrNotFound.
func (s *Store) SetWorkshopFrozen(ctx context.Context, id string, frozen bool) (Workshop, error) {
	return s.updateWorkshop(ctx, id, `UPDATE workshops SET frozen = ? WHERE id = ?`, frozen, id)
}

// SetWorkshopMessage sets workshop id's broadcast message ("" clears it;
// see CheckMessage) and returns the workshop, or ErrNotFound.
func (s *Store) SetWorkshopMessage(ctx context.Context, id, msg string) (Workshop, error) {
	msg, err := CheckMessage(msg)
	if err != nil {
		return Workshop{}, err
	}
	at := int64(0)
	if msg != "" {
		at = time.Now().UnixNano()
	}
	return s.updateWorkshop(ctx, id, `UPDATE workshops SET message = ?, message_at = ? WHERE id = ?`, msg, at, id)
}

// SetWorkshopFaults replaces workshop id's pushed faults and returns the
// workshop, or ErrNotFound.
func (s *Store) SetWorkshopFaults(ctx context.Context, id string, faults []WorkshopFault) (Workshop, error) {
	if faults == nil {
		faults = []WorkshopFault{}
	}
	b, err := json.Marshal(faults)
	if err != nil {
		return Workshop{}, err
	}
	return s.updateWorkshop(ctx, id, `UPDATE workshops SET faults = ? WHERE id = ?`, string(b), id)
}

// SetWorkshopSpotlight records the session shown to everyone and its share
// token ("" and "": none) and returns the workshop, or ErrNotFound.
func (s *Store) SetWorkshopSpotlight(ctx context.Context, id, session, token string) (Workshop, error) {
	return s.updateWorkshop(ctx, id, `UPDATE workshops SET spotlight_session = ?, spotlight_token = ? WHERE id = ?`, session, token, id)
}

func (s *Store) updateWorkshop(ctx context.Context, id, query string, args ...any) (Workshop, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return Workshop{}, fmt.Errorf("change workshop %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return Workshop{}, ErrNotFound
	}
	return s.GetWorkshop(ctx, id)
}

// WorkshopOfSession returns the workshop and participant session belongs
// to, or ErrNotFound for a session that is no participant's (the laptop
// user's, the instructor's, or one that does not exist).
func (s *Store) WorkshopOfSession(ctx context.Context, session string) (Workshop, Participant, error) {
	var pid string
	err := s.db.QueryRowContext(ctx, `SELECT p.id FROM sessions s JOIN participants p ON p.id = s.owner WHERE s.id = ?`, session).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return Workshop{}, Participant{}, ErrNotFound
	}
	if err != nil {
		return Workshop{}, Participant{}, fmt.Errorf("workshop of session %s: %w", session, err)
	}
	p, err := scanParticipant(s.db.QueryRowContext(ctx, `SELECT `+participantColumns+` FROM participants WHERE id = ?`, pid))
	if err != nil {
		return Workshop{}, Participant{}, fmt.Errorf("workshop of session %s: %w", session, err)
	}
	w, err := s.GetWorkshop(ctx, p.WorkshopID)
	if err != nil {
		return Workshop{}, Participant{}, err
	}
	p.Closed = !w.Open(time.Now())
	return w, p, nil
}

// SessionOf is one session of a workshop's participant.
type SessionOf struct {
	Participant Participant
	Session     Session
}

// WorkshopSessions lists every session the participants of workshop id
// own (a participant may have more than one), in the order they joined.
func (s *Store) WorkshopSessions(ctx context.Context, id string) ([]SessionOf, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, p.workshop_id, p.name, p.session_id, p.created_at, s.id
		FROM participants p JOIN sessions s ON s.owner = p.id
		WHERE p.workshop_id = ? ORDER BY p.created_at, p.id, s.created_at, s.id`, id)
	if err != nil {
		return nil, fmt.Errorf("workshop sessions: %w", err)
	}
	var ids []SessionOf
	for rows.Next() {
		var x SessionOf
		var created int64
		if err := rows.Scan(&x.Participant.ID, &x.Participant.WorkshopID, &x.Participant.Name, &x.Participant.SessionID, &created, &x.Session.ID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("workshop sessions: %w", err)
		}
		x.Participant.CreatedAt = time.Unix(0, created).UTC()
		ids = append(ids, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("workshop sessions: %w", err)
	}
	for i := range ids {
		sess, err := s.GetSession(ctx, ids[i].Session.ID)
		if err != nil {
			return nil, err
		}
		ids[i].Session = sess
	}
	return ids, nil
}

// ExpiredSessions lists the sessions of participants of workshops that
// ended (or expired) before cutoff: what the retention period deletes.
func (s *Store) ExpiredSessions(ctx context.Context, cutoff time.Time) ([]string, error) {
	c := cutoff.UnixNano()
	rows, err := s.db.QueryContext(ctx, `SELECT s.id FROM sessions s JOIN participants p ON p.id = s.owner JOIN workshops w ON w.id = p.workshop_id
		WHERE (w.ended_at > 0 AND w.ended_at < ?) OR (w.expires_at > 0 AND w.expires_at < ?)
		ORDER BY s.created_at, s.id`, c, c)
	if err != nil {
		return nil, fmt.Errorf("expired sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("expired sessions: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
