package web

import (
	"net/http"

	"policydesk/auth"
)

// Session cookie names. The __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant or read it.
// Browsers refuse Secure cookies over plain HTTP (except on localhost, and
// not all of them), so development and demo on http://127.0.0.1 use the
// plain name without Secure.
const (
	CookieSecure   = "__Host-pd_session"
	CookieInsecure = "pd_session"
)

func (s *Server) cookieName() string {
	if s.cfg.SecureCookies {
		return CookieSecure
	}
	return CookieInsecure
}

// CookieName is the session cookie's name under this configuration.
func (s *Server) CookieName() string { return s.cookieName() }

// setSessionCookie sends the session id. It is a browser-session cookie
// (no Max-Age): closing the browser ends it, and the server's idle and
// absolute limits end it in any case.
func (s *Server) setSessionCookie(w http.ResponseWriter, sess auth.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: sess.ID, Path: "/",
		Secure: s.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: s.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}
