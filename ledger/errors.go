package ledger

import (
	"errors"
	"fmt"
)

// Error codes. Each refusal of the ledger carries exactly one.
const (
	// CodeInvalid: the request is malformed — a zero or negative amount,
	// the same account on both sides, an empty id, flags that do not go
	// together, a sum that would overflow int64. Retrying cannot help.
	CodeInvalid = "invalid"
	// CodeNotFound: an account or pending transfer named by the request
	// does not exist.
	CodeNotFound = "not_found"
	// CodeInsufficientFunds: the transfer would break a bound of an
	// account that is not a cap (a pool, a payable account…).
	CodeInsufficientFunds = "insufficient_funds"
	// CodeExceedsCap: the transfer would break the bound of a cap account
	// (Code AccountCap): the enterprise, project or item limit is reached.
	CodeExceedsCap = "exceeds_cap"
	// CodeAlreadyResolved: the pending transfer was already posted or
	// voided.
	CodeAlreadyResolved = "already_resolved"
	// CodeExpired: the pending transfer's expiry has passed (it is, or is
	// about to be, voided by the ledger), or a new pending transfer would
	// expire at once.
	CodeExpired = "expired"
	// CodeConflict: the id exists with a different body (a transfer,
	// account, grant or cap limit).
	CodeConflict = "conflict"
	// CodeLinkedEventFailed: this transfer was fine but another in its
	// linked set failed, so none was applied.
	CodeLinkedEventFailed = "linked_event_failed"
	// CodeInternal: the database failed or the ledger is closed. The
	// outcome of the request is unknown: retry with the same ids, which
	// idempotency makes safe.
	CodeInternal = "internal"
)

// messages gives each code its Chinese and English message.
var messages = map[string][2]string{
	CodeInvalid:           {"请求无效", "invalid request"},
	CodeNotFound:          {"账户或转账不存在", "account or transfer not found"},
	CodeInsufficientFunds: {"余额不足", "insufficient funds"},
	CodeExceedsCap:        {"超出限额", "exceeds cap"},
	CodeAlreadyResolved:   {"预留已处理（已拨付或已撤销）", "pending transfer already resolved"},
	CodeExpired:           {"预留已过期", "pending transfer expired"},
	CodeConflict:          {"编号已存在且内容不同", "id exists with a different body"},
	CodeLinkedEventFailed: {"同组转账中另一笔失败，本组均未执行", "another transfer of the linked set failed"},
	CodeInternal:          {"内部错误，结果未知，请以相同编号重试", "internal error; outcome unknown, retry with the same ids"},
}

// Error is a refusal by the ledger. Use errors.As to read it:
//
//	var le *ledger.Error
//	if errors.As(err, &le) && le.Code == ledger.CodeExceedsCap { … }
type Error struct {
	Code      string // one of the Code… constants
	Message   string // for people, in Simplified Chinese
	MessageEN string // the same in English
	Subject   string // the transfer id, account key or grant id concerned
	Detail    string // what exactly was wrong, in English
	err       error  // the cause of an internal error
}

// Error formats the code, the subject and the detail, in English.
func (e *Error) Error() string {
	s := "ledger: " + e.Code
	if e.Subject != "" {
		s += " " + e.Subject
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the cause of an internal error.
func (e *Error) Unwrap() error { return e.err }

// Is makes errors.Is(err, &ledger.Error{Code: c}) match any error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Subject == "" && t.Detail == ""
}

// newError builds an Error with the code's messages.
func newError(code, subject, format string, args ...any) *Error {
	m := messages[code]
	return &Error{Code: code, Message: m[0], MessageEN: m[1], Subject: subject, Detail: fmt.Sprintf(format, args...)}
}

// internal wraps a failure of the database or of the ledger itself.
func internal(err error) *Error {
	e := newError(CodeInternal, "", "")
	e.err = err
	return e
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, the
// empty string for nil, and CodeInternal for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
