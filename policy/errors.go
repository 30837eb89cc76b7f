package policy

import "fmt"

// Input error codes (RULES.md §4): bad input is refused whole.
const (
	CodeInvalidUSCC  = "invalid_uscc"
	CodeInvalidMoney = "invalid_money"
	CodeInvalidDate  = "invalid_date"
	CodeUnknownItem  = "unknown_item"
	CodeInvalidValue = "invalid_value"
	CodeInvalidCase  = "invalid_case" // not YAML/JSON, or not a case at all
)

// InputError refuses a whole case. Message is Simplified Chinese for people;
// MessageEn is English; Path says where in the case the problem is.
type InputError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEn string `json:"message_en"`
	Path      string `json:"path,omitempty"`
}

func (e *InputError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Path, e.MessageEn)
	}
	return e.Code + ": " + e.MessageEn
}

func inputErr(code, path, zh, en string, args ...any) *InputError {
	return &InputError{Code: code, Path: path, Message: fmt.Sprintf(zh, args...), MessageEn: fmt.Sprintf(en, args...)}
}
