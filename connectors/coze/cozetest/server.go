// Package cozetest is an in-memory fake of Coze's knowledge document API
// for tests: an httptest.Server that checks each request the way Coze
// documents it (method, path, Authorization, Agw-Js-Conv, required body
// fields), keeps the dataset's documents, simulates asynchronous processing,
// and fails on demand. It is safe for concurrent use.
//
// A request that breaks the documented contract is answered 400 with a
// message and recorded; tests assert Violations() is empty.
package cozetest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx/fakehttp"
)

// Document processing states, as Coze reports them.
const (
	StatusProcessing = 0
	StatusDone       = 1
	StatusFailed     = 9
)

// Document is a knowledge base file held by the fake.
type Document struct {
	ID         string
	Name       string
	FileType   string
	FormatType int
	Content    []byte
	Status     int
	Created    time.Time
	Updated    time.Time // zero: Created (SetUpdated changes it)
	pollsLeft  int
	willFail   bool
}

// controls is fakehttp.Controls under an unexported name, so that embedded
// only its methods join the Server's API.
type controls = fakehttp.Controls

// Server is the fake. Create it with NewServer or Start. Besides its own
// methods it has those of fakehttp.Controls: SetDown, SetLatency, Requests
// (counted by URL path) and Violations.
type Server struct {
	*httptest.Server
	controls
	rec              fakehttp.Recorder // failures injected with status 200 carry a business error code
	token, datasetID string

	mu             sync.Mutex
	datasetFormat  int
	docs           []*Document // creation order
	nextID         int64
	processPolls   int
	failProcessing int
	uploads        int
}

// NewServer starts a fake for one dataset and bearer token. Close it when done.
func NewServer(token, datasetID string) *Server {
	s := &Server{token: token, datasetID: datasetID, nextID: 7400000000000000000, processPolls: 1}
	s.controls, s.rec = fakehttp.New()
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Start is NewServer with Close registered on t.Cleanup.
func Start(t testing.TB, token, datasetID string) *Server {
	t.Helper()
	s := NewServer(token, datasetID)
	t.Cleanup(s.Close)
	return s
}

// SetDatasetFormat sets the knowledge base type: 0 text (default), 1 table.
// Like Coze, the fake refuses uploads whose format_type does not match.
func (s *Server) SetDatasetFormat(format int) { s.with(func() { s.datasetFormat = format }) }

// SetProcessPolls sets how many process polls answer "processing" before a
// new document is done (default 1; 0 means done at once).
func (s *Server) SetProcessPolls(n int) { s.with(func() { s.processPolls = n }) }

// FailProcessingNext makes the next n created documents end in status 9.
func (s *Server) FailProcessingNext(n int) { s.with(func() { s.failProcessing = n }) }

// FailNext answers the next n requests with status (429 carries Retry-After: 1).
func (s *Server) FailNext(n, status int) {
	s.FailNextRetryAfter(n, status, fakehttp.DefaultRetryAfter(status))
}

// FailNextRetryAfter is FailNext with an explicit Retry-After header value.
func (s *Server) FailNextRetryAfter(n, status int, retryAfter string) {
	s.rec.Inject(n, fakehttp.Failure{Status: status, RetryAfter: retryAfter})
}

// FailPathNext answers the next n requests to path (e.g.
// "/open_api/knowledge/document/create") with status, leaving others alone.
func (s *Server) FailPathNext(path string, n, status int) {
	s.rec.Inject(n, fakehttp.Failure{Path: path, Status: status})
}

// FailNextCode answers the next n requests 200 {"code": code, "msg": ...}.
func (s *Server) FailNextCode(n, code int) {
	s.rec.Inject(n, fakehttp.Failure{Status: http.StatusOK, Code: code})
}

// Seed adds a document directly (for example a hand-made FAQ that must
// survive, or an old catalog) and returns its id.
func (s *Server) Seed(name string, content []byte, status int) string {
	var id string
	s.with(func() { id = s.add(name, "txt", s.datasetFormat, content, status).ID })
	return id
}

// SetStatus changes a document's processing status.
func (s *Server) SetStatus(id string, status int) {
	s.with(func() {
		if d := s.find(id); d != nil {
			d.Status, d.pollsLeft = status, 0
		}
	})
}

// SetUpdated sets the update time document/list reports for a document
// (Coze moves it when a document is re-processed or edited in its UI).
func (s *Server) SetUpdated(id string, at time.Time) {
	s.with(func() {
		if d := s.find(id); d != nil {
			d.Updated = at
		}
	})
}

// Documents returns a snapshot of the dataset in creation order.
func (s *Server) Documents() []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Document, 0, len(s.docs))
	for _, d := range s.docs {
		c := *d
		c.Content = slices.Clone(d.Content)
		out = append(out, c)
	}
	return out
}

// Uploads counts document/create calls that stored a document.
func (s *Server) Uploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploads
}

func (s *Server) with(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// add and find expect s.mu held.
func (s *Server) add(name, fileType string, format int, content []byte, status int) *Document {
	s.nextID++
	d := &Document{ID: strconv.FormatInt(s.nextID, 10), Name: name, FileType: fileType, FormatType: format,
		Content: content, Status: status, Created: time.Now()}
	s.docs = append(s.docs, d)
	return d
}

func (s *Server) find(id string) *Document {
	for _, d := range s.docs {
		if d.ID == id {
			return d
		}
	}
	return nil
}
