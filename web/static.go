package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"

	"policydesk/apperr"
	"policydesk/auth"
)

//go:embed static templates
var assets embed.FS

// staticFiles are the embedded files under static/, each with a content
// hash: pages link them as /static/NAME?v=HASH, which may be cached for a
// year because a new version has a new URL.
type staticFiles struct {
	fsys fs.FS
	hash map[string]string // name → first 12 hex digits of SHA-256
}

func loadStatic() (*staticFiles, error) {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	sf := &staticFiles{fsys: sub, hash: map[string]string{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		sf.hash[p] = hex.EncodeToString(sum[:])[:12]
		return nil
	})
	return sf, err
}

// url returns the versioned URL of a static file.
func (sf *staticFiles) url(name string) string {
	if h, ok := sf.hash[name]; ok {
		return "/static/" + name + "?v=" + h
	}
	return "/static/" + name
}

func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	name := r.PathValue("path")
	h, ok := s.static.hash[name]
	if !ok || strings.Contains(name, "..") {
		return apperr.New(apperr.NotFound, "文件不存在", "no such file")
	}
	hdr := w.Header()
	hdr.Set("ETag", `"`+h+`"`)
	if r.URL.Query().Get("v") == h {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "public, max-age=3600")
	}
	http.ServeFileFS(w, r, s.static.fsys, name)
	return nil
}
