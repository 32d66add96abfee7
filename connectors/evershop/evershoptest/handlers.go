package evershoptest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail, down, latency := s.rec.Take(r.URL.Path)
	if !fakehttp.Wait(r, latency) {
		return
	}
	switch {
	case down:
		apiError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case fail != nil && fail.Message != "":
		fakehttp.WriteJSON(w, http.StatusOK, map[string]any{"errors": []any{map[string]any{"message": fail.Message}}, "data": nil})
		return
	case fail != nil:
		fail.SetRetryAfter(w)
		apiError(w, fail.Status, http.StatusText(fail.Status))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || !fakehttp.IsJSON(r) {
		s.bad(w, "%s %s: want POST with Content-Type application/json, got %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		s.bad(w, "%s: body is not a JSON object: %v", r.URL.Path, err)
		return
	}
	switch r.URL.Path {
	case PathLogin:
		s.login(w, body)
	case PathRefresh:
		s.refresh(w, body)
	case PathGraphQL:
		s.graphql(w, r, body)
	default:
		msg := s.rec.Violation("%s %s: no such EverShop endpoint", r.Method, r.URL.Path)
		apiError(w, http.StatusNotFound, msg)
	}
}

func (s *Server) login(w http.ResponseWriter, body map[string]any) {
	email, _ := body["email"].(string)
	password, _ := body["password"].(string)
	if email == "" || password == "" {
		s.bad(w, "user/tokens: email and password are required")
		return
	}
	if email != s.email || password != s.password {
		apiError(w, http.StatusBadRequest, "Invalid email or password")
		return
	}
	fakehttp.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"accessToken": s.issue("access", s.accessTTL), "refreshToken": s.issue("refresh", s.refreshTTL)}})
}

func (s *Server) refresh(w http.ResponseWriter, body map[string]any) {
	rt, _ := body["refreshToken"].(string)
	if rt == "" {
		s.bad(w, "user/token/refresh: refreshToken is required")
		return
	}
	if msg := s.check(rt, "refresh"); msg != "" {
		apiError(w, http.StatusUnauthorized, msg)
		return
	}
	fakehttp.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"accessToken": s.issue("access", s.accessTTL)}})
}

func (s *Server) graphql(w http.ResponseWriter, r *http.Request, body map[string]any) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		apiError(w, http.StatusUnauthorized, s.rec.Violation("admin/graphql: Authorization: Bearer <accessToken> is required"))
		return
	}
	if msg := s.check(bearer, "access"); msg != "" {
		apiError(w, http.StatusUnauthorized, msg)
		return
	}
	query, _ := body["query"].(string)
	vars, _ := body["variables"].(map[string]any)
	if !strings.Contains(query, "products(filters:") && !strings.Contains(query, "products(filters :") {
		s.bad(w, "admin/graphql: query must select products(filters: $filters)")
		return
	}
	page, limit := 1, DefaultLimit
	filters, _ := vars["filters"].([]any)
	for i, f := range filters {
		m, _ := f.(map[string]any)
		key, _ := m["key"].(string)
		op, _ := m["operation"].(string)
		value, isString := m["value"].(string)
		if key == "" || op == "" || !isString {
			s.bad(w, "admin/graphql: filters[%d] must be {key, operation, value: String}", i)
			return
		}
		if key == "page" || key == "limit" {
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || op != "eq" {
				s.bad(w, "admin/graphql: filter %s must be eq a positive integer, got %s %q", key, op, value)
				return
			}
			if key == "page" {
				page = n
			} else {
				limit = n
			}
		}
	}
	all := s.sorted()
	items := []json.RawMessage{}
	if from := (page - 1) * limit; from < len(all) {
		items = all[from:min(from+limit, len(all))]
	}
	s.pagesServed = append(s.pagesServed, fmt.Sprintf("%d/%d", page, limit))
	fakehttp.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"products": map[string]any{
		"total": len(all), "currentPage": page, "items": items}}})
}

// issue makes a JWT-shaped token (unsigned; only this fake verifies it). s.mu held.
func (s *Server) issue(kind string, ttl time.Duration) string {
	s.seq++
	exp := time.Now().Add(ttl)
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"user": map[string]any{"email": s.email}, "tokenType": "admin",
		"tokenKind": kind, "iat": time.Now().Unix(), "exp": exp.Unix(), "aud": "admin", "iss": "evershop", "jti": s.seq})
	tok := header + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(fmt.Appendf(nil, "fake-%d", s.seq))
	s.tokens[tok] = &token{kind: kind, exp: exp}
	return tok
}

// check returns why tok is refused, or "". s.mu held.
func (s *Server) check(tok, kind string) string {
	t := s.tokens[tok]
	switch {
	case t == nil:
		return "Invalid token"
	case t.kind != kind:
		return "Invalid token kind. Expected " + kind + " token"
	case t.revoked || time.Now().After(t.exp):
		if kind == "refresh" {
			return "Refresh token has expired"
		}
		return "Token has expired"
	}
	return ""
}

// sorted returns products by product_id DESC. s.mu held.
func (s *Server) sorted() []json.RawMessage {
	ids := make([]int64, 0, len(s.products))
	for id := range s.products {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	out := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		out[i] = slices.Clone(s.products[id])
	}
	return out
}

// bad records a violation and answers 400; s.mu held.
func (s *Server) bad(w http.ResponseWriter, format string, args ...any) {
	apiError(w, http.StatusBadRequest, s.rec.Violation(format, args...))
}

// apiError answers in EverShop's error shape.
func apiError(w http.ResponseWriter, status int, msg string) {
	fakehttp.WriteJSON(w, status, map[string]any{"error": map[string]any{"status": status, "message": msg}})
}
