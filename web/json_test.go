package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"policydesk/apperr"
)

type sample struct {
	Name  string         `json:"name"`
	Count int            `json:"count,omitempty"`
	Tags  []string       `json:"tags,omitempty"`
	Extra map[string]any `json:"extra,omitempty"`
	Inner *struct {
		OK bool `json:"ok"`
	} `json:"inner,omitempty"`
}

func jsonRequest(ct, body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	var v sample
	err := DecodeJSON(jsonRequest("application/json; charset=UTF-8", `{"name": "算力", "count": 3, "extra": {"fee": 1500000.55}, "inner": {"ok": true}}`), &v)
	if err != nil || v.Name != "算力" || v.Count != 3 || !v.Inner.OK {
		t.Fatalf("DecodeJSON = %+v, %v", v, err)
	}
	// Numbers into interfaces keep their text: money never meets a float.
	if n, ok := v.Extra["fee"].(json.Number); !ok || n.String() != "1500000.55" {
		t.Fatalf("number decoded as %T %v", v.Extra["fee"], v.Extra["fee"])
	}
	cases := []struct {
		name, ct, body string
		code, field    string
	}{
		{"415", "text/json", `{}`, apperr.UnsupportedMedia, ""},
		{"unknown field", "application/json", `{"name": "x", "admin": true}`, apperr.Invalid, "admin"},
		{"type", "application/json", `{"count": "three"}`, apperr.Invalid, "count"},
		{"exactly 32 deep is fine", "application/json", `{"extra": {"a": ` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}}`, "", ""},
		{"33 deep", "application/json", `{"extra": {"a": ` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}}`, apperr.Invalid, ""},
		{"brackets in strings do not count", "application/json", `{"name": "` + strings.Repeat("[{", 100) + `"}`, "", ""},
		{"escaped quote in string", "application/json", `{"name": "a\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`, "", ""},
		{"trailing", "application/json", `{"name": "x"}x`, apperr.Invalid, ""},
		{"trailing value", "application/json", `{"name": "x"}{}`, apperr.Invalid, ""},
		{"whitespace after is fine", "application/json", "{\"name\": \"x\"}\n\t ", "", ""},
		{"invalid UTF-8", "application/json", "{\"name\": \"\xc3\x28\"}", apperr.Invalid, ""},
		{"empty", "application/json", "  ", apperr.Invalid, ""},
		{"syntax", "application/json", `{"name": }`, apperr.Invalid, ""},
		{"NUL escape", "application/json", `{"name": "a\u0000b"}`, apperr.Invalid, ""},
		{"NUL escape in a key", "application/json", `{"extra": {"\u0000": 1}}`, apperr.Invalid, ""},
		{"an escaped backslash before u0000 is text", "application/json", `{"name": "a\\u0000b"}`, "", ""},
		{"other escapes are fine", "application/json", `{"name": "\u0001\u00e9\n"}`, "", ""},
	}
	for _, c := range cases {
		var v sample
		err := DecodeJSON(jsonRequest(c.ct, c.body), &v)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != c.code || ae.Field != c.field || ae.Message == "" {
			t.Errorf("%s: %v, want code %s field %q", c.name, err, c.code, c.field)
		}
	}
	// Size: by Content-Length before reading, and by reading when it lies.
	big := `{"name": "` + strings.Repeat("x", DefaultMaxBody) + `"}`
	if err := DecodeJSON(jsonRequest("application/json", big), &v); !apperr.Is(err, apperr.TooLarge) {
		t.Fatalf("1 MiB + body: %v", err)
	}
	r := jsonRequest("application/json", big)
	r.ContentLength = -1
	if err := DecodeJSON(r, &v); !apperr.Is(err, apperr.TooLarge) {
		t.Fatalf("chunked large body: %v", err)
	}
	if err := DecodeJSONLimit(jsonRequest("application/json", `{"name": "12345"}`), &v, 10); !apperr.Is(err, apperr.TooLarge) {
		t.Fatalf("custom limit: %v", err)
	}
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	if err := WriteJSON(w, 201, map[string]string{"名": "值"}); err != nil {
		t.Fatal(err)
	}
	if w.Code != 201 || w.Header().Get("Content-Type") != "application/json; charset=utf-8" || !strings.Contains(w.Body.String(), `"名":"值"`) {
		t.Fatalf("WriteJSON: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	if err := WriteJSON(w, 200, map[string]any{"f": func() {}}); err == nil || w.Code != 500 || !json.Valid(w.Body.Bytes()) {
		t.Fatalf("unencodable value: %v %d %s", err, w.Code, w.Body)
	}
}

// FuzzDecodeJSON: whatever the body, DecodeJSON returns nil or a coded
// error that maps to a 4xx — never a panic, never an internal error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"name": "x", "tags": ["a"], "extra": {"k": [1, 2.5, null, true]}}`, `[`,
		strings.Repeat("[", 40), `{"inner": {"ok": 1}}`, "{\"name\": \"\xff\"}", `{"name": "a"} {"name": "b"}`, `"str"`, `1e400`, `{"count": 99999999999999999999}`} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		var v sample
		err := DecodeJSON(r, &v)
		if err == nil {
			if len(body) > DefaultMaxBody {
				t.Fatal("accepted an oversized body")
			}
			return
		}
		st, body2, internal := classify(err)
		if internal || st < 400 || st >= 500 || body2.Code == "" || body2.Message == "" {
			t.Fatalf("DecodeJSON(%q, %q) = %v → %d %+v", body, ct, err, st, body2)
		}
	})
}
