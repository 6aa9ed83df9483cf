package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// Workshop participants' own blocks of lab ports (migration 11, see
// docs/workshop.md): each participant's session gets one at join, stored in
// session_ports so that a restart gives every session its block back.

// SessionPorts is the block of lab ports of one session.
type SessionPorts struct {
	Session string           `json:"session"`
	Ports   engine.PortRange `json:"ports"`
	// Owner is the participant's display name and Workshop their workshop
	// ("" for a session of no participant).
	Owner    string `json:"owner"`
	Workshop string `json:"workshop"`
	// Closed says the workshop ended or expired: the block goes to the next
	// participant who needs one.
	Closed bool `json:"closed"`
}

// NoPortBlockError is a join when every block of the lab range is held by
// a participant of an open workshop.
type NoPortBlockError struct {
	Lab    engine.PortRange
	Size   int
	Blocks int
}

func (e *NoPortBlockError) Error() string {
	return fmt.Sprintf("the workshop is full: all %d blocks of %d lab ports (lab range %s) are taken by participants; the instructor can give the lab more ports (-lab-ports, e.g. %d-%d) or each participant fewer (-participant-ports)",
		e.Blocks, e.Size, e.Lab, e.Lab.First, e.Lab.First+2*(e.Lab.Last-e.Lab.First+1)-1)
}

// JoinWithPorts is Join that also gives the participant's session its own
// block of size ports of lab (unless it has one inside lab already), in the
// same transaction: when no block is free nothing of the join is stored and
// the error is a *NoPortBlockError. A block held by a session of a workshop
// that ended or expired is reused: displaced lists those sessions (their
// block is gone).
func (s *Store) JoinWithPorts(ctx context.Context, w Workshop, name, oldHash, newHash string, lab engine.PortRange, size int) (Participant, Session, SessionPorts, []string, error) {
	var sp SessionPorts
	var displaced []string
	p, sess, err := s.join(ctx, w, name, oldHash, newHash, func(tx *sql.Tx, p Participant) error {
		var err error
		sp, displaced, err = assignBlock(ctx, tx, p.SessionID, lab, size)
		sp.Owner, sp.Workshop = p.Name, p.WorkshopID
		return err
	})
	if err != nil {
		return Participant{}, Session{}, SessionPorts{}, nil, err
	}
	return p, sess, sp, displaced, nil
}

// AssignPortBlock gives session (a participant's) a block of size ports of
// lab, as JoinWithPorts does.
func (s *Store) AssignPortBlock(ctx context.Context, session string, lab engine.PortRange, size int) (SessionPorts, []string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return SessionPorts{}, nil, fmt.Errorf("port block: %w", err)
	}
	defer tx.Rollback()
	sp, displaced, err := assignBlock(ctx, tx, session, lab, size)
	if err != nil {
		return SessionPorts{}, nil, err
	}
	if err := tx.Commit(); err != nil {
		return SessionPorts{}, nil, fmt.Errorf("port block: %w", err)
	}
	return sp, displaced, nil
}

const portBlocksQuery = `SELECT sp.session_id, sp.first_port, sp.last_port, COALESCE(p.name, ''), COALESCE(p.workshop_id, ''),
	COALESCE(w.ended_at, 0), COALESCE(w.expires_at, 0)
	FROM session_ports sp JOIN sessions s ON s.id = sp.session_id
	LEFT JOIN participants p ON p.id = s.owner LEFT JOIN workshops w ON w.id = p.workshop_id`

func scanBlocks(rows *sql.Rows, now time.Time) ([]SessionPorts, error) {
	defer rows.Close()
	var out []SessionPorts
	for rows.Next() {
		var sp SessionPorts
		var ended, expires int64
		if err := rows.Scan(&sp.Session, &sp.Ports.First, &sp.Ports.Last, &sp.Owner, &sp.Workshop, &ended, &expires); err != nil {
			return nil, fmt.Errorf("port blocks: %w", err)
		}
		sp.Closed = ended > 0 || (expires > 0 && expires < now.UnixNano())
		out = append(out, sp)
	}
	return out, rows.Err()
}

// assignBlock finds session a free block in tx: the lowest one that no
// session of an open workshop holds.
func assignBlock(ctx context.Context, tx *sql.Tx, session string, lab engine.PortRange, size int) (SessionPorts, []string, error) {
	if size < 1 {
		return SessionPorts{}, nil, fmt.Errorf("%w: a block has at least one port", ErrInvalid)
	}
	rows, err := tx.QueryContext(ctx, portBlocksQuery)
	if err != nil {
		return SessionPorts{}, nil, fmt.Errorf("port block: %w", err)
	}
	all, err := scanBlocks(rows, time.Now())
	if err != nil {
		return SessionPorts{}, nil, err
	}
	for _, sp := range all {
		if sp.Session == session && lab.Contains(sp.Ports.First) && lab.Contains(sp.Ports.Last) {
			return sp, nil, nil // rejoin: the same block
		}
	}
	overlaps := func(a, b engine.PortRange) bool { return a.First <= b.Last && b.First <= a.Last }
	n := (lab.Last - lab.First + 1) / size
	for i := range n {
		cand := engine.PortRange{First: lab.First + i*size, Last: lab.First + i*size + size - 1}
		var displaced []string
		free := true
		for _, sp := range all {
			if sp.Session == session || !overlaps(sp.Ports, cand) {
				continue
			}
			if !sp.Closed {
				free = false
				break
			}
			displaced = append(displaced, sp.Session)
		}
		if !free {
			continue
		}
		for _, d := range displaced {
			if _, err := tx.ExecContext(ctx, `DELETE FROM session_ports WHERE session_id = ?`, d); err != nil {
				return SessionPorts{}, nil, fmt.Errorf("port block: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_ports (session_id, first_port, last_port) VALUES (?, ?, ?)
			ON CONFLICT (session_id) DO UPDATE SET first_port = excluded.first_port, last_port = excluded.last_port`,
			session, cand.First, cand.Last); err != nil {
			return SessionPorts{}, nil, fmt.Errorf("port block: %w", err)
		}
		return SessionPorts{Session: session, Ports: cand}, displaced, nil
	}
	return SessionPorts{}, nil, &NoPortBlockError{Lab: lab, Size: size, Blocks: n}
}

// PortBlocks lists every session's block (what a restart gives back to
// the lab), with its participant and workshop.
func (s *Store) PortBlocks(ctx context.Context) ([]SessionPorts, error) {
	rows, err := s.db.QueryContext(ctx, portBlocksQuery+` ORDER BY sp.first_port`)
	if err != nil {
		return nil, fmt.Errorf("port blocks: %w", err)
	}
	return scanBlocks(rows, time.Now())
}

// PortBlockOf returns session's block, or ErrNotFound when it has none.
func (s *Store) PortBlockOf(ctx context.Context, session string) (SessionPorts, error) {
	rows, err := s.db.QueryContext(ctx, portBlocksQuery+` WHERE sp.session_id = ?`, session)
	if err != nil {
		return SessionPorts{}, fmt.Errorf("port block: %w", err)
	}
	list, err := scanBlocks(rows, time.Now())
	if err != nil {
		return SessionPorts{}, err
	}
	if len(list) == 0 {
		return SessionPorts{}, ErrNotFound
	}
	return list[0], nil
}

// SetWorkshopOpenLab opens (or closes) workshop id's lab: while open its
// participants may dial each other's blocks. ErrNotFound for no workshop.
func (s *Store) SetWorkshopOpenLab(ctx context.Context, id string, open bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE workshops SET open_lab = ? WHERE id = ?`, open, id)
	if err != nil {
		return fmt.Errorf("open lab %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// WorkshopOpenLab reports whether workshop id's lab is open.
func (s *Store) WorkshopOpenLab(ctx context.Context, id string) (bool, error) {
	var open bool
	err := s.db.QueryRowContext(ctx, `SELECT open_lab FROM workshops WHERE id = ?`, id).Scan(&open)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("open lab %s: %w", id, err)
	}
	return open, nil
}

// OpenLabs lists the workshops whose lab is open.
func (s *Store) OpenLabs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM workshops WHERE open_lab != 0`)
	if err != nil {
		return nil, fmt.Errorf("open labs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("open labs: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
