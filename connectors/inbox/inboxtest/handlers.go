package inboxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route, convID := routeOf(r.URL.Path)
	fail, down, latency := s.rec.Take(route)
	s.mu.Lock()
	lose := !down && fail == nil && route == PathMessages && s.lose > 0
	if lose {
		s.lose--
	}
	s.mu.Unlock()
	if !fakehttp.Wait(r, latency) {
		return
	}
	switch {
	case lose:
		s.handle(httptest.NewRecorder(), r, route, convID)
		writeJSON(w, http.StatusGatewayTimeout, map[string]any{"code": 504, "message": "upstream timed out"})
		return
	case down:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": "inbox unavailable"})
		return
	case fail != nil:
		fail.SetRetryAfter(w)
		writeJSON(w, fail.Status, map[string]any{"code": fail.Status, "message": "injected failure"})
		return
	}
	s.handle(w, r, route, convID)
}

// handle checks and serves one request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, route, convID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method != http.MethodPost:
		s.bad(w, "%s %s: the inbox API takes POST", r.Method, r.URL.Path)
		return
	case !fakehttp.HasBearer(r, s.token):
		msg := s.rec.Violation("%s: Authorization %q is not the Bearer INBOX_API_TOKEN", r.URL.Path, r.Header.Get("Authorization"))
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": msg})
		return
	case !fakehttp.IsJSON(r):
		s.bad(w, "%s: Content-Type %q, want application/json", r.URL.Path, r.Header.Get("Content-Type"))
		return
	}
	body, err := fakehttp.DecodeObject(r)
	if err != nil {
		s.bad(w, "%s: body is not a JSON object: %v", r.URL.Path, err)
		return
	}
	switch route {
	case PathLogin:
		s.login(w, body)
	case PathConversation:
		s.getOrCreate(w, body)
	case PathMessages:
		s.postMessage(w, r, convID, body)
	default:
		msg := s.rec.Violation("%s %s: no such inbox endpoint", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": msg})
	}
}

func routeOf(path string) (route, convID string) {
	if rest, ok := strings.CutPrefix(path, "/api/conversations/"); ok {
		if id, ok := strings.CutSuffix(rest, "/messages"); ok && id != "" && !strings.Contains(id, "/") {
			return PathMessages, id
		}
	}
	return path, ""
}

func (s *Server) login(w http.ResponseWriter, body map[string]any) {
	email, _ := body["email"].(string)
	tenant, _ := body["tenant"].(string)
	if !strings.Contains(email, "@") || tenant == "" {
		s.bad(w, "login: email (an address) and tenant are required, got email=%q tenant=%q", email, tenant)
		return
	}
	u := s.users[email]
	if u == nil {
		s.seq++
		u = &user{id: s.seq, email: email, tenant: tenant}
		s.users[email], s.usersByID[u.id] = u, u
	}
	ok(w, map[string]any{"id": u.id, "email": email, "tenant": u.tenant})
}

func (s *Server) getOrCreate(w http.ResponseWriter, body map[string]any) {
	uid, valid := userID(body["inboxUserId"])
	tenant, _ := body["tenant"].(string)
	if !valid || tenant == "" {
		s.bad(w, "get-or-create: inboxUserId and tenant are required")
		return
	}
	u := s.usersByID[uid]
	if u == nil || u.tenant != tenant {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "inbox user not found in tenant"})
		return
	}
	c := s.convByUser[uid]
	if c == nil {
		s.seq++
		c = &conversation{id: fmt.Sprintf("conv-%d", s.seq), user: u}
		s.convs[c.id], s.convByUser[uid] = c, c
	}
	ok(w, map[string]any{"id": c.id, "inboxUserId": uid})
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, convID string, body map[string]any) {
	key := r.Header.Get("Idempotency-Key")
	uid, valid := userID(body["inboxUserId"])
	content, _ := body["content"].(string)
	role, _ := body["role"].(string)
	mtype, _ := body["messageType"].(string)
	switch {
	case key == "":
		s.bad(w, "post message: header Idempotency-Key (the event id) is required")
		return
	case !valid || content == "":
		s.bad(w, "post message: inboxUserId and content are required")
		return
	case role != "assistant" || mtype != "text":
		s.bad(w, "post message: role %q and messageType %q, want assistant and text", role, mtype)
		return
	}
	c := s.convs[convID]
	if c == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "conversation not found"})
		return
	}
	if c.user.id != uid {
		s.bad(w, "post message: inboxUserId %d does not own conversation %s", uid, convID)
		return
	}
	s.posts++
	if m := s.idempotency[key]; m != nil {
		ok(w, map[string]any{"id": m.ID, "conversationId": m.ConversationID})
		return
	}
	s.seq++
	m := &Message{ID: fmt.Sprintf("msg-%d", s.seq), ConversationID: c.id, InboxUserID: uid, Email: c.user.email,
		Content: content, Role: role, MessageType: mtype, IdempotencyKey: key, CreatedAt: time.Now()}
	s.idempotency[key] = m
	c.messages = append(c.messages, m)
	s.all = append(s.all, m)
	ok(w, map[string]any{"id": m.ID, "conversationId": m.ConversationID})
}

// userID accepts the user id as a JSON number or a numeric string.
func userID(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// bad records a violation and answers 400; s.mu held.
func (s *Server) bad(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": s.rec.Violation(format, args...)})
}

func ok(w http.ResponseWriter, data map[string]any) {
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "data": data})
}

// writeJSON answers with a request id, as the inbox does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", time.Now().UnixNano()))
	fakehttp.WriteJSON(w, status, v)
}
