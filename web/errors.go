package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/ledger"
	"policydesk/policy"
	"policydesk/store"
)

// ErrorBody is the "error" member of every API error answer.
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`              // Simplified Chinese
	MessageEn string `json:"message_en,omitempty"` // English
	Field     string `json:"field,omitempty"`      // the input at fault
	RequestID string `json:"request_id"`
}

// ErrorResponse is an API error answer: {"error": {...}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// statusOf maps error codes to HTTP statuses, once for the whole program.
var statusOf = map[string]int{
	apperr.Invalid:               http.StatusBadRequest,
	apperr.Unauthorized:          http.StatusUnauthorized,
	apperr.Forbidden:             http.StatusForbidden,
	apperr.NotFound:              http.StatusNotFound,
	apperr.Conflict:              http.StatusConflict,
	apperr.InsufficientFunds:     http.StatusConflict,
	apperr.ExceedsCap:            http.StatusConflict,
	apperr.TooLarge:              http.StatusRequestEntityTooLarge,
	apperr.UnsupportedMedia:      http.StatusUnsupportedMediaType,
	apperr.RateLimited:           http.StatusTooManyRequests,
	apperr.Unavailable:           http.StatusServiceUnavailable,
	apperr.Internal:              http.StatusInternalServerError,
	ledger.CodeAlreadyResolved:   http.StatusConflict,
	ledger.CodeExpired:           http.StatusConflict,
	ledger.CodeLinkedEventFailed: http.StatusConflict,
	codeMethodNotAllowed:         http.StatusMethodNotAllowed,
}

// StatusOf returns the HTTP status of an error code. A code nobody mapped
// is a refusal the service chose to name, so it answers 400 rather than
// pretend the server failed.
func StatusOf(code string) int {
	if st, ok := statusOf[code]; ok {
		return st
	}
	return http.StatusBadRequest
}

const (
	internalZH = "服务器内部错误，请稍后重试；如问题持续，请联系管理员并提供请求编号"
	internalEN = "internal server error; if it persists, contact the administrator with the request id"
)

// classify turns err into a status and a body. internal reports that err
// is not a refusal but a failure, which is logged and never shown.
func init() { learn(internalZH, internalEN) }

func classify(err error) (status int, body ErrorBody, internal bool) {
	var ae *apperr.Error
	var ie *policy.InputError
	var le *ledger.Error
	var mb *http.MaxBytesError
	var coded interface{ ErrorCode() string }
	switch {
	case errors.As(err, &ae) && ae.Code != apperr.Internal:
		body = ErrorBody{Code: ae.Code, Message: ae.Message, MessageEn: ae.MessageEn, Field: ae.Field}
		status = StatusOf(ae.Code)
	case errors.As(err, &ie):
		body = ErrorBody{Code: ie.Code, Message: ie.Message, MessageEn: ie.MessageEn, Field: ie.Path}
		status = http.StatusBadRequest
	case errors.As(err, &le) && le.Code != ledger.CodeInternal:
		body = ErrorBody{Code: le.Code, Message: le.Message, MessageEn: le.MessageEN}
		switch le.Code {
		case ledger.CodeInvalid:
			status = http.StatusBadRequest
		case ledger.CodeNotFound:
			status = http.StatusNotFound
		default:
			status = http.StatusConflict
		}
	case errors.As(err, &mb):
		body = ErrorBody{Code: apperr.TooLarge, Message: "请求体过大", MessageEn: "request body too large"}
		status = http.StatusRequestEntityTooLarge
	case store.IsInvalidText(err):
		body = ErrorBody{Code: apperr.Invalid, Message: "输入含有无法保存的字符(NUL 或非 UTF-8 编码),请检查后重新提交", MessageEn: "the input holds characters that cannot be stored (NUL or invalid UTF-8)"}
		status = http.StatusBadRequest
	case store.IsDiskFull(err):
		body = ErrorBody{Code: apperr.Unavailable, Message: "服务器存储空间不足,未保存任何内容,请稍后重试并通知管理员", MessageEn: "the server is out of storage; nothing was saved"}
		status = http.StatusInsufficientStorage
	case errors.Is(err, context.DeadlineExceeded):
		body = ErrorBody{Code: apperr.Unavailable, Message: "服务繁忙，请稍后重试", MessageEn: "the server is busy; try again later"}
		status = http.StatusServiceUnavailable
	case errors.As(err, &coded) && coded.ErrorCode() != apperr.Internal && coded.ErrorCode() != "":
		body = ErrorBody{Code: coded.ErrorCode(), Message: "请求未被接受", MessageEn: err.Error()}
		status = StatusOf(coded.ErrorCode())
	}
	learn(body.Message, body.MessageEn)
	if status == 0 || status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusInsufficientStorage {
		return http.StatusInternalServerError, ErrorBody{Code: apperr.Internal, Message: internalZH, MessageEn: internalEN}, true
	}
	return status, body, false
}

// writeError answers err as JSON (api) or as an error page, and logs
// failures with the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, api bool) {
	status, body, internal := classify(err)
	body.RequestID = RequestID(r.Context())
	if st := stateOf(r.Context()); st != nil {
		st.err = body.Code
	}
	switch {
	case internal && errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request canceled by client", slog.String("request_id", body.RequestID))
	case status == http.StatusInsufficientStorage:
		s.log.LogAttrs(r.Context(), slog.LevelError, "out of storage", slog.String("request_id", body.RequestID),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	case internal:
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("request_id", body.RequestID),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	var th *auth.Throttled
	if errors.As(err, &th) {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(th.RetryAfter(s.cfg.Now())/1e9), 10))
	}
	if api {
		WriteJSON(w, status, ErrorResponse{Error: body})
		return
	}
	s.renderError(w, r, status, body)
}

// crossOriginDenied answers an unsafe request that http.CrossOriginProtection
// refused (a form posted from another site, a cross-site fetch).
func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, apperr.New(apperr.Forbidden, "拒绝跨站请求：请从本站页面提交", "cross-origin request refused"), isAPIPath(r.URL.Path))
}
