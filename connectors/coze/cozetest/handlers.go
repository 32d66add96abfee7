package cozetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
)

const (
	pathList    = "/open_api/knowledge/document/list"
	pathCreate  = "/open_api/knowledge/document/create"
	pathDelete  = "/open_api/knowledge/document/delete"
	processPath = "/process" // /v1/datasets/{dataset_id}/process
)

// fileTypes are the local file formats Coze accepts, by knowledge base type.
var fileTypes = map[string]int{"txt": 0, "pdf": 0, "doc": 0, "docx": 0, "md": 0, "csv": 1, "xlsx": 1, "xls": 1}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail, down, latency := s.rec.Take(r.URL.Path)
	if !fakehttp.Wait(r, latency) {
		return
	}
	switch {
	case down:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 5000, "msg": "service unavailable"})
		return
	case fail != nil && fail.Status == http.StatusOK:
		writeJSON(w, http.StatusOK, map[string]any{"code": fail.Code, "msg": "injected failure"})
		return
	case fail != nil:
		fail.SetRetryAfter(w)
		writeJSON(w, fail.Status, map[string]any{"code": fail.Status, "msg": "injected failure"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := s.checkHeaders(r); msg != "" {
		status := http.StatusBadRequest
		if strings.Contains(msg, "Authorization") {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]any{"code": 4100, "msg": msg})
		return
	}
	body, err := fakehttp.DecodeObject(r)
	if err != nil {
		s.bad(w, "%s %s: body is not a JSON object: %v", r.Method, r.URL.Path, err)
		return
	}
	switch {
	case r.URL.Path == pathList:
		s.list(w, body)
	case r.URL.Path == pathCreate:
		s.create(w, body)
	case r.URL.Path == pathDelete:
		s.delete(w, body)
	case strings.HasPrefix(r.URL.Path, "/v1/datasets/") && strings.HasSuffix(r.URL.Path, processPath):
		s.process(w, r.URL.Path, body)
	default:
		msg := s.rec.Violation("%s %s: no such Coze endpoint", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "msg": msg})
	}
}

// checkHeaders expects s.mu held; it returns the violation, if any.
func (s *Server) checkHeaders(r *http.Request) string {
	switch {
	case r.Method != http.MethodPost:
		return s.rec.Violation("%s %s: Coze knowledge endpoints take POST", r.Method, r.URL.Path)
	case !fakehttp.HasBearer(r, s.token):
		return s.rec.Violation("%s: Authorization %q is not the Bearer token", r.URL.Path, r.Header.Get("Authorization"))
	case !fakehttp.IsJSON(r):
		return s.rec.Violation("%s: Content-Type %q, want application/json", r.URL.Path, r.Header.Get("Content-Type"))
	case strings.HasPrefix(r.URL.Path, "/open_api/knowledge/document/") && r.Header.Get("Agw-Js-Conv") != "str":
		return s.rec.Violation("%s: missing header Agw-Js-Conv: str", r.URL.Path)
	}
	return ""
}

func (s *Server) list(w http.ResponseWriter, body map[string]any) {
	if id := idString(body["dataset_id"]); id != s.datasetID {
		s.bad(w, "document/list: dataset_id %q, want %q", id, s.datasetID)
		return
	}
	page, size := intOr(body["page"], 1), intOr(body["size"], 10)
	if page < 1 || size < 1 {
		s.bad(w, "document/list: page %d and size %d must be positive", page, size)
		return
	}
	infos := []any{}
	for i := len(s.docs) - 1 - (page-1)*size; i >= 0 && len(infos) < size; i-- { // newest first
		infos = append(infos, wire(s.docs[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "", "document_infos": infos, "total": len(s.docs)})
}

func (s *Server) create(w http.ResponseWriter, body map[string]any) {
	if id := idString(body["dataset_id"]); id != s.datasetID {
		s.bad(w, "document/create: dataset_id %q, want %q", id, s.datasetID)
		return
	}
	bases, _ := body["document_bases"].([]any)
	if len(bases) == 0 || len(bases) > 10 {
		s.bad(w, "document/create: document_bases must hold 1 to 10 files, got %d", len(bases))
		return
	}
	if cs, ok := body["chunk_strategy"].(map[string]any); ok && intOr(cs["chunk_type"], 0) == 1 &&
		(intOr(cs["max_tokens"], 0) < 100 || cs["separator"] == nil) {
		s.bad(w, "document/create: chunk_type 1 needs max_tokens (100..2000) and separator")
		return
	}
	type upload struct {
		name, fileType string
		content        []byte
	}
	var ups []upload
	for i, b := range bases {
		base, _ := b.(map[string]any)
		name, _ := base["name"].(string)
		src, _ := base["source_info"].(map[string]any)
		b64, _ := src["file_base64"].(string)
		ft, _ := src["file_type"].(string)
		content, err := base64.StdEncoding.DecodeString(b64)
		_, known := fileTypes[ft]
		switch {
		case name == "":
			s.bad(w, "document/create: document_bases[%d].name is required", i)
			return
		case b64 == "" || err != nil:
			s.bad(w, "document/create: document_bases[%d].source_info.file_base64 must be non-empty base64", i)
			return
		case !known:
			s.bad(w, "document/create: document_bases[%d].source_info.file_type %q is not supported", i, ft)
			return
		}
		ups = append(ups, upload{name, ft, content})
	}
	format := intOr(body["format_type"], s.datasetFormat)
	var infos []any
	for _, u := range ups {
		if fileTypes[u.fileType] != s.datasetFormat || format != s.datasetFormat {
			// A configuration mistake, not a malformed request: Coze answers a business error.
			writeJSON(w, http.StatusOK, map[string]any{"code": 1000011, "msg": fmt.Sprintf(
				"file type %s (format_type %d) does not match the knowledge base type %d", u.fileType, format, s.datasetFormat)})
			return
		}
		d := s.add(u.name, u.fileType, format, u.content, StatusProcessing)
		d.pollsLeft = s.processPolls
		if s.failProcessing > 0 {
			s.failProcessing--
			d.willFail = true
		}
		s.uploads++
		infos = append(infos, wire(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "", "document_infos": infos})
}

func (s *Server) process(w http.ResponseWriter, path string, body map[string]any) {
	id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/datasets/"), processPath)
	if id != s.datasetID {
		s.bad(w, "datasets/%s/process: dataset id in the path, want %q", id, s.datasetID)
		return
	}
	ids, _ := body["document_ids"].([]any)
	if len(ids) == 0 {
		s.bad(w, "datasets/process: document_ids is required")
		return
	}
	out := []any{}
	for _, raw := range ids {
		d := s.find(idString(raw))
		if d == nil {
			continue
		}
		if d.Status == StatusProcessing {
			switch {
			case d.pollsLeft > 0:
				d.pollsLeft--
			case d.willFail:
				d.Status = StatusFailed
			default:
				d.Status = StatusDone
			}
		}
		p := map[string]any{"document_id": d.ID, "document_name": d.Name, "status": d.Status, "type": d.FileType,
			"size": len(d.Content), "progress": map[int]int{StatusProcessing: 50, StatusDone: 100}[d.Status],
			"remaining_time": 0, "update_type": 0, "update_interval": 0, "url": "", "status_descript": ""}
		if d.Status == StatusFailed {
			p["status_descript"] = "parse failed"
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "", "data": map[string]any{"data": out}})
}

func (s *Server) delete(w http.ResponseWriter, body map[string]any) {
	ids, _ := body["document_ids"].([]any)
	if len(ids) == 0 || len(ids) > 100 {
		s.bad(w, "document/delete: document_ids must hold 1 to 100 ids, got %d", len(ids))
		return
	}
	for _, raw := range ids {
		id := idString(raw)
		for i, d := range s.docs {
			if d.ID == id {
				s.docs = append(s.docs[:i], s.docs[i+1:]...)
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": ""})
}

func wire(d *Document) map[string]any {
	ts, updated := d.Created.Unix(), d.Created.Unix()
	if !d.Updated.IsZero() {
		updated = d.Updated.Unix()
	}
	return map[string]any{"document_id": d.ID, "name": d.Name, "status": d.Status, "type": d.FileType,
		"format_type": d.FormatType, "size": len(d.Content), "char_count": len([]rune(string(d.Content))),
		"source_type": 0, "slice_count": bytes.Count(d.Content, []byte("\n")) + 1, "hit_count": 0,
		"create_time": ts, "update_time": updated, "update_type": 0, "update_interval": 0,
		"chunk_strategy": map[string]any{"chunk_type": 0}}
}

// bad records a violation and answers 400; it expects s.mu held.
func (s *Server) bad(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"code": 4000, "msg": s.rec.Violation(format, args...)})
}

// idString accepts an int64 id sent as a string (Agw-Js-Conv: str) or a number.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

func intOr(v any, def int) int {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return int(i)
		}
	}
	return def
}

// writeJSON answers with a log id, as Coze does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("X-Tt-Logid", fmt.Sprintf("fake%d", time.Now().UnixNano()))
	fakehttp.WriteJSON(w, status, v)
}
