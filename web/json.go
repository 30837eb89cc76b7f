package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"policydesk/apperr"
)

// DefaultMaxBody bounds a JSON request body: 1 MiB.
const DefaultMaxBody = 1 << 20

// MaxDepth bounds the nesting of JSON request bodies.
const MaxDepth = 32

// DecodeJSON reads r's body as one JSON value into v, refusing with a coded
// error: a Content-Type other than application/json (415), a body larger
// than DefaultMaxBody (413), and with 400 (code invalid) an empty body,
// invalid UTF-8, nesting deeper than MaxDepth, malformed JSON, a field v
// does not have, a value of the wrong type, and anything after the value.
// Numbers into interface values arrive as json.Number, exactly as sent.
func DecodeJSON(r *http.Request, v any) error { return DecodeJSONLimit(r, v, DefaultMaxBody) }

// DecodeJSONLimit is DecodeJSON with a body limit of its own.
func DecodeJSONLimit(r *http.Request, v any, limit int64) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > limit {
		return errTooLarge(limit)
	}
	if r.Body == nil {
		return errInvalidJSON("请求体为空", "empty request body", "")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return apperr.Wrap(err, apperr.Invalid, "无法读取请求体", "cannot read the request body")
	}
	if int64(len(data)) > limit {
		return errTooLarge(limit)
	}
	return decodeJSONBytes(data, v)
}

func errTooLarge(limit int64) error {
	return apperr.Newf(apperr.TooLarge, "请求体超过 %d 字节的上限", "request body exceeds %d bytes", limit)
}

func errInvalidJSON(zh, en, field string) error {
	return apperr.New(apperr.Invalid, zh, en).WithField(field)
}

func checkJSONContentType(ct string) error {
	unsupported := apperr.New(apperr.UnsupportedMedia, "请求体须为 JSON（Content-Type: application/json）", "the body must be JSON (Content-Type: application/json)")
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported
		}
	}
	return nil
}

// decodeJSONBytes is DecodeJSON after the transport checks.
func decodeJSONBytes(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errInvalidJSON("请求体为空", "empty request body", "")
	}
	if !utf8.Valid(data) {
		return errInvalidJSON("请求体不是有效的 UTF-8 文本", "the body is not valid UTF-8", "")
	}
	if err := checkDepth(data, MaxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return translateJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errInvalidJSON("JSON 值之后还有多余内容", "unexpected data after the JSON value", "")
	}
	return nil
}

func translateJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return errInvalidJSON(fmt.Sprintf("JSON 格式错误（第 %d 字节附近）", se.Offset), "malformed JSON at byte "+fmt.Sprint(se.Offset), "")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errInvalidJSON("JSON 不完整", "incomplete JSON", "")
	case errors.As(err, &te):
		field := te.Field
		return errInvalidJSON(fmt.Sprintf("字段 %s 的类型不正确：应为 %s", fieldName(field), jsonKind(te.Type.Kind().String())),
			fmt.Sprintf("field %s: expected %s, got %s", fieldName(field), te.Type.Kind(), te.Value), field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errInvalidJSON(fmt.Sprintf("未知字段 %s", name), "unknown field "+name, name)
	}
	return errInvalidJSON("JSON 无法解析", "cannot decode JSON: "+err.Error(), "")
}

func fieldName(f string) string {
	if f == "" {
		return "(请求体)"
	}
	return f
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "字符串"
	case "bool":
		return "布尔值"
	case "slice", "array":
		return "数组"
	case "map", "struct":
		return "对象"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "数字"
	}
	return k
}

// checkDepth refuses JSON nested deeper than max, before the decoder
// recurses into it, and strings holding NUL (\u0000: no text field has a
// use for it, and PostgreSQL cannot store it). It skips strings, so
// brackets inside them do not count.
func checkDepth(data []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
				if c == 'u' && bytes.HasPrefix(data[i+1:], []byte("0000")) {
					return errInvalidJSON("文本中不能含有 NUL 字符(\\u0000)", "text may not contain NUL (\\u0000)", "")
				}
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c == 0:
				return errInvalidJSON("文本中不能含有 NUL 字符", "text may not contain NUL", "")
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return errInvalidJSON(fmt.Sprintf("JSON 嵌套超过 %d 层", max), fmt.Sprintf("JSON nested deeper than %d levels", max), "")
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// WriteJSON answers v as JSON with status. Encoding happens before the
// status is sent, so a value that cannot be encoded still gets a clean 500.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"code":"internal","message":"`+internalZH+`"}}`+"\n")
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
