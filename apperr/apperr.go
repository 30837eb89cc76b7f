// Package apperr is the error of policydesk's services: a stable code that
// the web layer maps once to an HTTP status, a message in Simplified
// Chinese for people, and English for logs and the API's second language.
package apperr

import (
	"errors"
	"fmt"
)

// Codes shared by the services.
const (
	Invalid           = "invalid"            // 400/422: bad input
	Unauthorized      = "unauthorized"       // 401: not signed in
	Forbidden         = "forbidden"          // 403: signed in, not allowed
	NotFound          = "not_found"          // 404
	Conflict          = "conflict"           // 409: wrong state, duplicate, idempotency mismatch
	InsufficientFunds = "insufficient_funds" // 409: the pool cannot cover it
	ExceedsCap        = "exceeds_cap"        // 409: a cap cannot cover it
	TooLarge          = "too_large"          // 413
	UnsupportedMedia  = "unsupported_media"  // 415
	RateLimited       = "rate_limited"       // 429
	Unavailable       = "unavailable"        // 503
	Internal          = "internal"           // 500: never shown in detail
)

// Error is a coded error. Field names the input at fault, when there is one.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEn string `json:"message_en,omitempty"`
	Field     string `json:"field,omitempty"`
	Err       error  `json:"-"`
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.MessageEn
	if e.MessageEn == "" {
		s = e.Code + ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code, a Chinese and an English message.
func New(code, zh, en string) *Error { return &Error{Code: code, Message: zh, MessageEn: en} }

// Newf formats both messages with the same arguments.
func Newf(code, zh, en string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(zh, args...), MessageEn: fmt.Sprintf(en, args...)}
}

// WithField names the input at fault.
func (e *Error) WithField(f string) *Error { e.Field = f; return e }

// Wrap keeps cause behind a coded error.
func Wrap(cause error, code, zh, en string) *Error {
	return &Error{Code: code, Message: zh, MessageEn: en, Err: cause}
}

// CodeOf returns the code of err, or Internal when err carries none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code string) bool { return err != nil && CodeOf(err) == code }
