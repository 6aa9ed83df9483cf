package web

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// apiError is an error already written for the person who made the request.
type apiError struct {
	status     int
	msg        string
	retryAfter time.Duration // sent as Retry-After (429) when set
	quota      string        // a participant's quota that refused (counted for /metrics)
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) error { return &apiError{status: http.StatusBadRequest, msg: msg} }

// connGoneError is a send that failed because the peer is gone (EPIPE,
// ECONNRESET): answered 409 with the errno and its hint.
type connGoneError struct{ err error }

func (e *connGoneError) Error() string { return "send failed: " + e.err.Error() }
func (e *connGoneError) Unwrap() error { return e.err }

// errorBody is the JSON of every error answer. Socket errors also carry the
// errno name and the hint a learner needs.
type errorBody struct {
	Error string `json:"error"`
	Errno string `json:"errno,omitempty"`
	Hint  string `json:"hint,omitempty"`
	// Python is the exception a Python program would see for the same error.
	Python string `json:"python,omitempty"`
}

// respondError answers a JSON API request with err.
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	setRetryAfter(w, err)
	status, body := s.errorResponse(r, err)
	if status == http.StatusTooManyRequests {
		var ae *apiError
		if errors.As(err, &ae) && ae.quota == "sessions" {
			s.stats.sessionRefusals.Add(1)
		}
		s.logFor(r).Info("refused: a limit is reached", "method", r.Method, "path", r.URL.Path, "error", body.Error)
	}
	writeJSON(w, status, body)
}

// errorResponse maps err to a status and a message meant for a person: the
// one place where errors become HTTP.
func (s *Server) errorResponse(r *http.Request, err error) (int, errorBody) {
	var (
		ae      *apiError
		optErr  *engine.OptionError
		kindErr *engine.UnknownKindError
		refused *engine.RefusedError
		closed  *engine.SendClosedError
		gone    *connGoneError
		tooBig  *http.MaxBytesError
	)
	body := errorBody{Error: err.Error()}
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.As(err, &tooBig):
		status, body.Error = http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+itoa(tooBig.Limit)+" bytes"
	case errors.As(err, &kindErr):
		status, body.Error = http.StatusBadRequest, kindErr.Error()
	case errors.As(err, &optErr):
		status, body.Error = http.StatusBadRequest, optErr.Error()
	case errors.Is(err, sessions.ErrInvalid):
		status, body.Error = http.StatusBadRequest, strings.TrimPrefix(err.Error(), sessions.ErrInvalid.Error()+": ")
	case errors.Is(err, engine.ErrPortOutOfRange):
		status = http.StatusBadRequest
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, sessions.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, engine.ErrLimit), errors.Is(err, engine.ErrNoFreePort):
		status = http.StatusTooManyRequests
	case errors.As(err, &refused):
		status = http.StatusForbidden
		body.Errno, body.Hint = sockErr(err)
	case errors.As(err, &closed), errors.As(err, &gone):
		status = http.StatusConflict
		body.Errno, body.Hint = sockErr(err)
	case errors.Is(err, engine.ErrLabClosed), errors.Is(err, sessions.ErrRecorderClosed):
		status = http.StatusServiceUnavailable
	default:
		se := engine.Classify(err)
		switch se.Errno {
		case "EADDRINUSE":
			status = http.StatusConflict
		case "ERROR":
		default:
			// The target did not accept or keep the connection: sockplay
			// acted as a gateway and the upstream failed.
			status = http.StatusBadGateway
		}
		if status != http.StatusInternalServerError {
			body.Errno, body.Hint, body.Python = se.Errno, se.Hint, se.Python
		}
	}
	if status == http.StatusInternalServerError {
		s.logFor(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body = errorBody{Error: "internal error; the server log has the details"}
	}
	return status, body
}

// setRetryAfter tells a client refused by a rate limit when to try again.
func setRetryAfter(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
	}
}

func sockErr(err error) (errno, hint string) {
	se := engine.Classify(err)
	return se.Errno, se.Hint
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
