package sessions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// Import reads a jsonl export (export.go) back into a new session. The file
// is read and checked completely before anything is written: its first line
// must be the header of this format and version, then one event per line in
// the event JSON of docs/events.md, seqs 1, 2, 3… without gaps, every event
// of the header's session, of a known kind, with fields of the right types.
// The new session is written in one transaction by the recorder's writer
// (Recorder.Import), so its cache of last seqs knows it, and nothing is
// started or dialed: an imported session's servers are history, never put in
// lab_servers to be started again.
//
// Round trip: export → import → export gives the same file but for the
// session's new id (in the header and in every event's "session") and its
// created_at (the time of the import: it is a new session of this
// database, and the retention's age counts from it). Every other byte of
// every event line is the same.

// DefaultMaxImportBytes bounds an import file unless configured otherwise.
const DefaultMaxImportBytes = 64 << 20

// ErrTooLarge is wrapped by an import that is over a size cap.
var ErrTooLarge = errors.New("too large")

// ImportError is a file that cannot be imported: the line (1-based; 0 for
// the file as a whole) and what is wrong with it. It wraps ErrInvalid.
type ImportError struct {
	Line int
	Msg  string
}

func (e *ImportError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Unwrap makes an ImportError an ErrInvalid (400).
func (e *ImportError) Unwrap() error { return ErrInvalid }

// ParsedImport is a checked jsonl export, ready to be written.
type ParsedImport struct {
	Header ExportHeader
	// Events are the events in seq order, with Session still the file's
	// session id; Recorder.Import gives them the new one. Each holds only
	// what the chunks need (seq, time, kind, error) and its tail, made once:
	// its bytes and meta are in the tail, so memory is about the file's size.
	Events []Record
	// Bytes is the size of the file.
	Bytes int64
}

// knownKinds are the kinds of docs/events.md.
var knownKinds = map[engine.Kind]bool{
	engine.KindServerStart: true, engine.KindServerStop: true, engine.KindListen: true, engine.KindAccept: true,
	engine.KindConnect: true, engine.KindRecv: true, engine.KindSend: true, engine.KindClose: true,
	engine.KindDatagramIn: true, engine.KindDatagramOut: true, engine.KindTLSHandshake: true, engine.KindProxyDial: true,
	engine.KindAppFrame: true, engine.KindHTTPRequest: true, engine.KindHTTPResponse: true, engine.KindOption: true,
	engine.KindTimeout: true, engine.KindRetry: true, engine.KindError: true, engine.KindFault: true, engine.KindLoss: true,
}

// importEvent is one event line as read: every field typed, meta apart.
type importEvent struct {
	Seq       *int64          `json:"seq"`
	Session   *string         `json:"session"`
	Server    string          `json:"server"`
	Conn      string          `json:"conn"`
	At        *string         `json:"at"`
	Kind      *string         `json:"kind"`
	Net       string          `json:"net"`
	Local     string          `json:"local"`
	Remote    string          `json:"remote"`
	Len       int             `json:"len"`
	Data      []byte          `json:"data"`
	Truncated bool            `json:"truncated"`
	Err       *engine.SockErr `json:"err"`
	Meta      json.RawMessage `json:"meta"`
}

// ParseImport reads and checks a jsonl export of at most maxBytes bytes
// (0: DefaultMaxImportBytes) and at most maxEvents events (0: no limit).
// Any problem is an *ImportError naming the line, or ErrTooLarge.
func ParseImport(r io.Reader, maxBytes int64, maxEvents int64) (*ParsedImport, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxImportBytes
	}
	br := bufio.NewReaderSize(io.LimitReader(r, maxBytes+1), 64<<10)
	p := &ParsedImport{}
	var prev int64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		p.Bytes += int64(len(b))
		if p.Bytes > maxBytes {
			return nil, fmt.Errorf("import: %w: the file is larger than the import limit of %d bytes (-max-import-bytes)", ErrTooLarge, maxBytes)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("import: reading the file: %w", err)
		}
		if len(b) == 0 && err == io.EOF {
			if line == 1 {
				return nil, &ImportError{Msg: "the file is empty; an export of sockplay (export.jsonl) starts with a line naming its format and version"}
			}
			break
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\r'})
		if line == 1 {
			if err := p.readHeader(b); err != nil {
				return nil, err
			}
		} else {
			if maxEvents > 0 && int64(len(p.Events)) >= maxEvents {
				return nil, fmt.Errorf("import: %w: the file holds more than %d events, the most a session keeps (-session-max-events)", ErrTooLarge, maxEvents)
			}
			if err := p.readEvent(line, b, &prev); err != nil {
				return nil, err
			}
		}
		if err == io.EOF {
			break
		}
	}
	if n := int64(len(p.Events)); n != p.Header.Session.Events {
		return nil, &ImportError{Msg: fmt.Sprintf("the first line says the session has %d events but the file holds %d: it is cut short or was edited", p.Header.Session.Events, n)}
	}
	return p, nil
}

func (p *ParsedImport) readHeader(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 || b[0] != '{' {
		return &ImportError{Line: 1, Msg: "not a JSON object: an export of sockplay (export.jsonl) starts with a line such as {\"format\":\"sockplay-session\",\"version\":1,…}"}
	}
	var h struct {
		Format  *string `json:"format"`
		Version *int    `json:"version"`
		Session *struct {
			ID        string    `json:"id"`
			Name      string    `json:"name"`
			CreatedAt time.Time `json:"created_at"`
			Events    *int64    `json:"events"`
		} `json:"session"`
	}
	if err := strictJSON(b, &h); err != nil {
		return &ImportError{Line: 1, Msg: "the header: " + err.Error()}
	}
	switch {
	case h.Format == nil:
		return &ImportError{Line: 1, Msg: fmt.Sprintf("the header has no \"format\"; an export of sockplay says \"format\":%q", ExportFormat)}
	case *h.Format != ExportFormat:
		return &ImportError{Line: 1, Msg: fmt.Sprintf("format %q is not %q: this is not a sockplay export", *h.Format, ExportFormat)}
	case h.Version == nil:
		return &ImportError{Line: 1, Msg: fmt.Sprintf("the header has no \"version\"; this sockplay reads version %d", ExportVersion)}
	case *h.Version != ExportVersion:
		return &ImportError{Line: 1, Msg: fmt.Sprintf("format version %d: this sockplay reads version %d only (the file was written by another version of sockplay)", *h.Version, ExportVersion)}
	case h.Session == nil:
		return &ImportError{Line: 1, Msg: "the header has no \"session\" object"}
	case h.Session.Events == nil || *h.Session.Events < 0:
		return &ImportError{Line: 1, Msg: "the header's session has no \"events\" count (a number ≥ 0)"}
	}
	name, err := CheckName(h.Session.Name)
	if err != nil {
		return &ImportError{Line: 1, Msg: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
	}
	p.Header = ExportHeader{Format: *h.Format, Version: *h.Version, Session: ExportSession{ID: h.Session.ID, Name: name,
		CreatedAt: h.Session.CreatedAt, Events: *h.Session.Events}}
	return nil
}

func (p *ParsedImport) readEvent(line int, b []byte, prev *int64) error {
	bad := func(format string, args ...any) error {
		return &ImportError{Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return bad("the line is empty; each line after the first is one event")
	}
	if b[0] != '{' {
		return bad("not a JSON object: each line after the first is one event as JSON")
	}
	var e importEvent
	if err := strictJSON(b, &e); err != nil {
		return bad("%s", err.Error())
	}
	switch {
	case e.Seq == nil:
		return bad("the event has no \"seq\"")
	case *e.Seq == *prev:
		return bad("seq %d again: a duplicate event (line %d has the same seq)", *e.Seq, line-1)
	case *e.Seq < *prev:
		return bad("seq %d after seq %d: events must be in seq order", *e.Seq, *prev)
	case *e.Seq > *prev+1 && *prev+1 == *e.Seq-1:
		return bad("seq %d after seq %d: the event of seq %d is missing", *e.Seq, *prev, *prev+1)
	case *e.Seq > *prev+1:
		return bad("seq %d after seq %d: the events of seqs %d–%d are missing", *e.Seq, *prev, *prev+1, *e.Seq-1)
	case e.Session == nil:
		return bad("the event has no \"session\"")
	case *e.Session != p.Header.Session.ID:
		return bad("the event is of session %q but the first line says the file is session %q", *e.Session, p.Header.Session.ID)
	case e.Kind == nil:
		return bad("the event has no \"kind\"")
	case !knownKinds[engine.Kind(*e.Kind)]:
		return bad("unknown event kind %q (docs/events.md lists the kinds)", *e.Kind)
	case e.At == nil:
		return bad("the event has no \"at\" (its time)")
	case e.Len < 0:
		return bad("\"len\" is %d; a length is never negative", e.Len)
	case e.Net != "" && e.Net != "tcp" && e.Net != "udp" && e.Net != "tls":
		return bad("\"net\" is %q; it is \"tcp\", \"udp\", \"tls\" or empty", e.Net)
	}
	at, err := parseTime(*e.At)
	if err != nil {
		return bad("\"at\" is %q, not a time such as 2026-12-02T10:00:00.000000000Z", *e.At)
	}
	var meta []byte
	if m := bytes.TrimSpace(e.Meta); len(m) > 0 && string(m) != "null" {
		if m[0] != '{' {
			return bad("\"meta\" is not a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m); err != nil {
			return bad("\"meta\": %s", err.Error())
		}
		meta = buf.Bytes()
	}
	if meta != nil {
		var m map[string]any
		if err := decodeMeta(meta, &m); err != nil {
			return bad("\"meta\": %s", err.Error())
		}
	}
	ev := engine.Event{Session: *e.Session, Server: e.Server, Conn: e.Conn, At: at.UTC(),
		Kind: engine.Kind(*e.Kind), Net: e.Net, Local: e.Local, Remote: e.Remote, Len: e.Len, Data: e.Data,
		Truncated: e.Truncated, Err: e.Err}
	// The stored tail: the event JSON appendTail writes (so every field is
	// in sockplay's own form), with the file's meta bytes as they are.
	tail := appendTail(make([]byte, 0, tailSize(&ev)), &ev)
	if meta != nil {
		tail = append(append(tail[:len(tail)-len("null}")], meta...), '}')
	}
	ev.Data = nil
	*prev = *e.Seq
	p.Events = append(p.Events, Record{Seq: *e.Seq, Event: ev, tail: tail})
	return nil
}

// tailFor is the stored tail of event i under the session id session.
func (p *ParsedImport) tailFor(i int, session string) []byte {
	r := &p.Events[i]
	old := appendString([]byte(`"session":`), r.Session)
	rest, ok := bytes.CutPrefix(r.tail, old)
	if !ok { // appendTail always starts so
		ev := r.Event
		ev.Session = session
		return appendTail(nil, &ev)
	}
	return append(appendString([]byte(`"session":`), session), rest...)
}

// strictJSON decodes one JSON value from b into v: unknown fields, a second
// value and fields of the wrong type are errors, said for a person (the
// field's name and what it should be, not a Go type).
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func jsonProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		want := map[string]string{"string": "a string", "int": "a whole number", "int64": "a whole number", "bool": "true or false",
			"slice": "base64 text", "struct": "an object", "ptr": "an object"}[typeErr.Type.Kind().String()]
		if want == "" {
			want = typeErr.Type.Kind().String()
		}
		field := typeErr.Field
		if field == "" {
			field = "the value"
		} else {
			field = fmt.Sprintf("%q", field)
		}
		return fmt.Errorf("%s is %s, not %s", field, article(typeErr.Value), want)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not valid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case strings.Contains(err.Error(), "illegal base64"):
		return fmt.Errorf("\"data\" is not valid base64: %s", strings.TrimPrefix(err.Error(), "illegal base64 data "))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s (the event JSON of docs/events.md has no such key)", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON is cut short")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func article(v string) string {
	switch v {
	case "number", "string", "bool", "array", "object":
		return map[string]string{"number": "a number", "string": "a string", "bool": "true or false", "array": "an array", "object": "an object"}[v]
	}
	return v
}

// Import writes a checked export as a new session of owner, named name
// (empty: the file's name), in one transaction of the recorder's writer,
// after everything queued before it. It returns the new session.
func (r *Recorder) Import(ctx context.Context, p *ParsedImport, name, owner string) (Session, error) {
	if name == "" {
		name = p.Header.Session.Name
	}
	name, err := CheckName(name)
	if err != nil {
		return Session{}, err
	}
	if name == "" {
		name = "Imported " + time.Now().UTC().Format("2006-01-02 15:04")
	}
	job := &importJob{p: p, sess: Session{ID: newSessionID(), Name: name, CreatedAt: time.Now().UTC(), Owner: owner,
		Events: int64(len(p.Events))}}
	if n := len(p.Events); n > 0 {
		job.sess.LastAt = p.Events[n-1].At
	}
	if err := r.barrier(ctx, op{imp: job}); err != nil {
		return Session{}, err
	}
	return job.sess, nil
}

// importJob is an import waiting for the writer.
type importJob struct {
	p    *ParsedImport
	sess Session
}

// importSession runs on the writer goroutine: the session and all its
// events in one transaction, then the last-seq cache.
func (r *Recorder) importSession(job *importJob) error {
	ctx := context.Background()
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: begin: %w", err)
	}
	defer tx.Rollback()
	s := job.sess
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, name, created_at, owner) VALUES (?, ?, ?, ?)`,
		s.ID, s.Name, s.CreatedAt.UnixNano(), s.Owner); err != nil {
		return fmt.Errorf("import: create session: %w", err)
	}
	p := job.p
	const block = 4096 // the chunker's buffers stay the size of a batch
	for start := 0; start < len(p.Events); start += block {
		end := min(start+block, len(p.Events))
		recs := make([]Record, 0, end-start)
		for i := start; i < end; i++ {
			rec := p.Events[i]
			rec.Session = s.ID
			rec.tail = p.tailFor(i, s.ID)
			recs = append(recs, rec)
		}
		c := &r.chunks
		c.reset()
		c.addAll(recs)
		if err := c.insertChunks(ctx, tx, c.finish(), nil); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if err := countErrors(ctx, tx, recs); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	// The cache must know the new session's last seq: an event recorded in
	// it later (a server started in the imported session) follows it.
	r.lastSeq[s.ID] = int64(len(p.Events))
	delete(r.usage, s.ID) // read from the store when it first records
	r.log.Info("session imported", "session", s.ID, "name", s.Name, "events", len(p.Events), "bytes", p.Bytes)
	return nil
}
