package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"time"
)

// Client talks to a policydesk server over HTTP as one user, keeping the
// session cookie.
type Client struct {
	Base string // scheme://host:port, no trailing slash
	HTTP *http.Client
}

// NewClient returns an anonymous client of the server at base. Requests
// share tr (nil: a transport of its own) and time out after timeout.
func NewClient(base string, tr http.RoundTripper, timeout time.Duration) *Client {
	jar, _ := cookiejar.New(nil)
	if tr == nil {
		tr = &http.Transport{MaxIdleConnsPerHost: 64}
	}
	return &Client{Base: base, HTTP: &http.Client{Jar: jar, Transport: tr, Timeout: timeout}}
}

// Resp is an answer: its status and body.
type Resp struct {
	Status int
	Body   []byte
	Header http.Header
}

// Code is the error code of an error answer ({"error":{"code":…}}), "" if
// there is none.
func (r Resp) Code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// OK reports a 2xx answer.
func (r Resp) OK() bool { return r.Status/100 == 2 }

// Decode reads the body as JSON into v.
func (r Resp) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("answer %d is not JSON: %.200s", r.Status, r.Body)
	}
	return nil
}

// Err is nil for a 2xx answer and describes the answer otherwise.
func (r Resp) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("HTTP %d %s: %.300s", r.Status, r.Code(), r.Body)
}

// Login signs in; the session cookie is kept for later requests.
func (c *Client) Login(ctx context.Context, login, password string) error {
	r, err := c.JSON(ctx, "POST", "/api/v1/session", map[string]string{"login": login, "password": password})
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("login %s: %w", login, r.Err())
	}
	return nil
}

// JSON sends body (nil: no body) as JSON; hdr are header name, value pairs.
// The error is for a request that got no answer.
func (c *Client) JSON(ctx context.Context, method, path string, body any, hdr ...string) (Resp, error) {
	var rd io.Reader
	ct := ""
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return Resp{}, err
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	return c.Raw(ctx, method, path, ct, rd, hdr...)
}

// Raw sends body with Content-Type ct ("" for none) as it is.
func (c *Client) Raw(ctx context.Context, method, path, ct string, body io.Reader, hdr ...string) (Resp, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return Resp{}, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return Resp{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return Resp{}, err
	}
	return Resp{Status: res.StatusCode, Body: data, Header: res.Header}, nil
}

// Upload sends a file as multipart/form-data (field file, and kind unless
// it is "").
func (c *Client) Upload(ctx context.Context, path, kind, filename string, data []byte) (Resp, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if kind != "" {
		mw.WriteField("kind", kind)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(data)
	mw.Close()
	return c.Raw(ctx, "POST", path, mw.FormDataContentType(), &buf)
}
