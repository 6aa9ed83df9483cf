package sessions

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Share is a read-only link to a session.
type Share struct {
	Token     string    `json:"token"`
	Session   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// newShareToken returns 160 random bits as 32 lowercase base32 characters
// (more than the 128 a link must have to be unguessable).
func newShareToken() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// CreateShare makes a new read-only link to session (ErrNotFound when the
// session does not exist).
func (s *Store) CreateShare(ctx context.Context, session string) (Share, error) {
	sh := Share{Token: newShareToken(), Session: session, CreatedAt: time.Now().UTC()}
	res, err := s.db.ExecContext(ctx, `INSERT INTO shares (token, session_id, created_at)
		SELECT ?, id, ? FROM sessions WHERE id = ?`, sh.Token, sh.CreatedAt.UnixNano(), session)
	if err != nil {
		return Share{}, fmt.Errorf("create share of %s: %w", session, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Share{}, ErrNotFound
	}
	return sh, nil
}

// Shares lists a session's links, revoked ones too, oldest first.
func (s *Store) Shares(ctx context.Context, session string) ([]Share, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token, created_at, COALESCE(revoked_at, 0) FROM shares
		WHERE session_id = ? ORDER BY created_at, token`, session)
	if err != nil {
		return nil, fmt.Errorf("shares of %s: %w", session, err)
	}
	defer rows.Close()
	out := []Share{}
	for rows.Next() {
		sh := Share{Session: session}
		var created, revoked int64
		if err := rows.Scan(&sh.Token, &created, &revoked); err != nil {
			return nil, fmt.Errorf("shares of %s: %w", session, err)
		}
		sh.CreatedAt = time.Unix(0, created).UTC()
		if revoked != 0 {
			sh.RevokedAt = time.Unix(0, revoked).UTC()
		}
		out = append(out, sh)
	}
	return out, rows.Err()
}

// RevokeShare revokes one of session's links: from then on it is as if it
// never existed. ErrNotFound when session has no such link (or it is
// already revoked).
func (s *Store) RevokeShare(ctx context.Context, session, token string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE shares SET revoked_at = ?
		WHERE token = ? AND session_id = ? AND revoked_at IS NULL`, time.Now().UnixNano(), token, session)
	if err != nil {
		return fmt.Errorf("revoke share of %s: %w", session, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: this session has no active share link %q", ErrNotFound, token)
	}
	return nil
}

// SharedSession returns the session a link opens, or ErrNotFound for a
// token that is wrong or revoked (which one is not said).
func (s *Store) SharedSession(ctx context.Context, token string) (Session, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT session_id FROM shares WHERE token = ? AND revoked_at IS NULL`, token).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("open share: %w", err)
	}
	return s.GetSession(ctx, id)
}
