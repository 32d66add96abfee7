package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/coze"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/kafka/catalog"
)

type fakePublished struct {
	p   catalog.Published
	csv []byte
	ok  bool
	err error
}

func (f *fakePublished) Latest(context.Context) (catalog.Published, []byte, bool, error) {
	return f.p, f.csv, f.ok, f.err
}

// The catalog page with a Coze target: the live document as the fake's
// document/list reports it, shopstream's record beside it, the CSV as
// recorded, and each side's failure shown without hiding the other.
func TestCatalogPageShowsTheKnowledgeBaseDocument(t *testing.T) {
	kb := cozetest.Start(t, "pat_console", "7301")
	kb.SetProcessPolls(0)
	client, err := coze.New(coze.Config{BaseURL: kb.URL, Token: "pat_console", DatasetID: "7301", PollInterval: time.Millisecond,
		MaxPollInterval: time.Millisecond, ProcessTimeout: time.Second}, kb.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	csv := []byte("id,name\n1,Mug\n")
	res, err := client.ReplaceCatalog(t.Context(), client.NewCatalogDocument(csv))
	if err != nil {
		t.Fatal(err)
	}
	edited := testNow.Add(-time.Minute)
	kb.SetUpdated(res.DocumentID, edited)
	kb.Seed("shopstream-catalog-next.txt", []byte("id,name\n"), cozetest.StatusProcessing)
	pub := &fakePublished{ok: true, csv: csv, p: catalog.Published{Name: "shopstream-catalog-abc.csv", Hash: "abc123", Rows: 1, Bytes: len(csv),
		DocumentID: res.DocumentID, Uploaded: true, At: testNow.Add(-2 * time.Minute)}}
	h := newHarness(t, Config{Token: testToken}, Deps{Catalog: KnowledgeBaseCatalog{KnowledgeBase: client, Published: pub, Where: "Coze knowledge base 7301"}})
	h.login()

	_, body, _ := h.get("/catalog")
	mustContain(t, body, `id="kb-doc"`, res.Name, res.DocumentID, "14 bytes", "processed", "2026-12-03 06:59:00.000Z",
		`id="kb-others"`, "shopstream-catalog-next.txt", "processing",
		"<code>abc123</code>", "uploaded at", "2026-12-03 06:58:00.000Z", `href="/catalog/download"`)
	if strings.Contains(body, `id="mismatch"`) || strings.Contains(body, `id="regenerate"`) {
		t.Error("mismatch reported, or a regenerate button the target cannot honour")
	}
	if code, got, _ := h.get("/catalog/download"); code != http.StatusOK || got != string(csv) {
		t.Errorf("download: %d %q", code, got)
	}

	// Unchanged content, a CSV too big to keep, another live document.
	pub.p.Uploaded, pub.csv, pub.p.CSVOmitted, pub.p.DocumentID = false, []byte{}, "the CSV is 9000000 bytes, more than the 8388608 kept", "1"
	_, body, _ = h.get("/catalog")
	mustContain(t, body, "confirmed unchanged at", `id="csv-note"`, "more than the 8388608 kept", `id="mismatch"`)
	if code, _, _ := h.get("/catalog/download"); code != http.StatusNotFound {
		t.Errorf("download of an omitted CSV: %d", code)
	}

	// Coze down: its error, and the record still shown.
	kb.SetDown(true)
	_, body, _ = h.get("/catalog")
	mustContain(t, body, `id="remote-error"`, "<code>abc123</code>")
	kb.SetDown(false)

	// The record unreadable, then absent: Coze's side still shown.
	pub.err = errors.New("broker away")
	_, body, _ = h.get("/catalog")
	mustContain(t, body, `id="record-error"`, "broker away", res.DocumentID)
	pub.err, pub.ok = nil, false
	_, body, _ = h.get("/catalog")
	mustContain(t, body, `id="no-record"`, res.DocumentID)
	if code, _, _ := h.get("/catalog/download"); code != http.StatusNotFound {
		t.Errorf("download with nothing recorded: %d", code)
	}
	if code, _, _ := h.post("/catalog/regenerate", h.form()); code != http.StatusNotImplemented {
		t.Errorf("regenerate: %d", code)
	}
	if v := kb.Violations(); len(v) > 0 {
		t.Errorf("Coze contract violations: %v", v)
	}

	// With a way to ask the catalog owner: the button, and a request under
	// the signed-in user's name, queued (not "done").
	var asked []string
	fail := error(nil)
	withOwner := newHarness(t, Config{Token: testToken}, Deps{Catalog: KnowledgeBaseCatalog{KnowledgeBase: client, Published: pub,
		Where: "Coze knowledge base 7301", Request: func(_ context.Context, user string) error {
			asked = append(asked, user)
			return fail
		}}})
	withOwner.login()
	_, body, _ = withOwner.get("/catalog")
	mustContain(t, body, `id="regenerate"`)
	code, _, hdr := withOwner.post("/catalog/regenerate", withOwner.form())
	if code != http.StatusSeeOther || hdr.Get("Location") != "/catalog?notice=requested" || len(asked) != 1 {
		t.Fatalf("regenerate: %d to %q, %d requests", code, hdr.Get("Location"), len(asked))
	}
	_, body, _ = withOwner.get("/catalog?notice=requested")
	mustContain(t, body, "Regeneration requested", "catalog.regenerate")
	fail = errors.New("broker away")
	if code, body, _ := withOwner.post("/catalog/regenerate", withOwner.form()); code != http.StatusBadGateway || !strings.Contains(body, "broker away") {
		t.Errorf("regenerate with the broker away: %d", code)
	}
}
