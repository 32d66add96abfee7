package main

// The console in a real browser: Debian's Chromium, headless, driven with
// chromedp, against the console over the real broker and ClickHouse, with
// serve, process and sink running and a fake inbox. Skips only when no
// Chromium is installed (.ci/run installs Debian's chromium), or when the
// broker or ClickHouse is not configured (like every integration test).
//
// Screenshots of each page go to var/screenshots; with
// SHOPSTREAM_CONSOLE_SCREENSHOTS=docs they are also copied to docs/console
// (the README shows those).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/console"
	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/internal/lifecycle"
)

// chromium finds the browser, or skips the test saying what is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (/usr/bin/chromium): install Debian's chromium package (apt-get install chromium) to run the console's browser test")
	return ""
}

const browserToken = "browser-test-token-0123456789"

// browserSessionKey signs the test console's session cookies.
const browserSessionKey = "browser-test-session-key-0123456789abcdef"

func TestIntegrationConsoleBrowser(t *testing.T) {
	exe := chromium(t)
	dsnEnv, store := analyticsDatabase(t)
	inbox := analyticsStartInbox(t)
	kb := cozetest.Start(t, cozeToken, cozeDataset)
	kb.SetProcessPolls(0)
	cfg := testConfig(t, append(append(inbox.Env(), cozeEnv(kb)...), dsnEnv, "SHOPSTREAM_CATALOG_QUIET=300ms", "WEBHOOK_SEND_WELCOME_MESSAGE=true")...)
	resetKafka(t, cfg)
	startServe(t, cfg)
	proc := startProcess(t, cfg, nil)
	analyticsStartSink(t, cfg)

	// Five delivered orders, three orders of a customer the inbox refuses
	// (400: dead-lettered at once) and one refused welcome.
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	for i := range 5 {
		analyticsPost(t, cfg, "order", orderBody("order.updated", 4100+i, fmt.Sprintf("buyer%d@example.com", i), "shipped", "processing", base), "")
	}
	inbox.FailLoginAlways("refused@example.com", http.StatusBadRequest)
	inbox.FailLoginAlways("refused-too@example.com", http.StatusBadRequest)
	for i := range 3 {
		analyticsPost(t, cfg, "order", orderBody("order.updated", 4200+i, "refused@example.com", "shipped", "processing", base), "")
	}
	analyticsPost(t, cfg, "customer", customerBody(4300, "refused-too@example.com", "Rita Refused", base), "")
	ctx := t.Context()
	waitUntil(t, 2*time.Minute, "5 delivered and 4 dead events in ClickHouse", func() bool {
		done, _ := store.FindEvents(ctx, clickhouse.EventQuery{Status: "completed"})
		dead, _ := store.FindEvents(ctx, clickhouse.EventQuery{Status: "dead"})
		return len(done) == 5 && len(dead) == 4
	})
	// The cause is fixed for the orders only: the filtered replay sends them.
	inbox.FailLoginAlways("refused@example.com", 0)

	addr := freeAddr(t)
	ccfg := console.Config{Addr: addr, Token: browserToken, SessionKey: browserSessionKey, Log: testLogger(t).With("role", "console")}
	p, err := newConsolePart(ctx, cfg, ccfg, ccfg.Log, proc.Registry)
	if err != nil {
		t.Fatal(err)
	}
	runRole(t, "console", ccfg.Log, nil, []lifecycle.Part{p})
	baseURL := "http://" + addr
	waitUntil(t, 30*time.Second, "the console listens", func() bool {
		resp, err := http.Get(baseURL + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	shots := screenshotDir(t)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100 gives a PNG, lower a JPEG
			if err != nil {
				return err
			}
			return saveScreenshot(t, shots, name, png)
		})
	}
	// waitURL waits for the navigation a click started: a selector alone
	// could still match the page being left.
	waitURL := func(sub string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			for {
				loc, err := chromedp.Location()(ctx, tg)
				if err == nil && strings.Contains(loc, sub) {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("waiting for a page at %q (now %s): %w", sub, loc, ctx.Err())
				case <-time.After(25 * time.Millisecond):
				}
			}
		})
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}

	// Log in: the first page sends us to the login form.
	run("log in",
		chromedp.Navigate(baseURL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), browserToken),
		shot("01-login"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#accepted")),
	)
	if before := text("#status-completed"); before != "5" {
		t.Fatalf("overview before the replay: %s completed", before)
	}

	// Find an order's event and open its timeline.
	run("find order 4200",
		chromedp.Navigate(baseURL+"/events"),
		chromedp.WaitVisible(chromedp.CSS("#entity")),
		chromedp.SendKeys(chromedp.CSS("#entity"), "4200"),
		chromedp.Click(chromedp.CSS("#find")),
		waitURL("entity=4200"),
		chromedp.WaitVisible(chromedp.CSS("a.event-link")),
		shot("02-find-event"),
		chromedp.Click(chromedp.CSS("a.event-link")),
		waitURL("/events/"),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
		shot("03-event-timeline"),
	)
	eventURL, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if tl := text("#timeline"); !strings.Contains(tl, "received") || !strings.Contains(tl, "dead-lettered") || !strings.Contains(tl, "injected failure") {
		t.Fatalf("timeline of the refused order: %q", tl)
	}
	if body := text("#body"); strings.Contains(body, "refused@example.com") || !strings.Contains(body, "r•••@example.com") {
		t.Fatalf("body not masked: %q", body)
	}

	// Dead letters: filter to the orders, dry run, confirm, result.
	run("filter dead letters",
		chromedp.Navigate(baseURL+"/dlq"),
		chromedp.WaitVisible(chromedp.CSS("#dlq-type")),
		shot("04-dead-letters"),
		chromedp.SetValue(chromedp.CSS("#dlq-type"), "order.updated"),
		chromedp.SendKeys(chromedp.CSS("#dlq-error"), "injected"),
		chromedp.Click(chromedp.CSS("#dlq-apply")),
		waitURL("type=order.updated"),
		chromedp.WaitVisible(chromedp.CSS("#dry-filter")),
	)
	if c := text("#dlq-count"); !strings.HasPrefix(c, "3 dead letters match") {
		t.Fatalf("filtered count: %q", c)
	}
	run("dry run", chromedp.Click(chromedp.CSS("#dry-filter")), chromedp.WaitVisible(chromedp.CSS("#dry-run-count")), shot("05-dry-run"))
	if c := text("#dry-run-count"); !strings.HasPrefix(c, "3 dead letters would be replayed") {
		t.Fatalf("dry run: %q", c)
	}
	if n := len(inbox.Messages("refused@example.com")); n != 0 {
		t.Fatalf("the dry run sent %d messages", n)
	}
	run("replay", chromedp.Click(chromedp.CSS("#confirm-replay")), chromedp.WaitVisible(chromedp.CSS("#replay-result")), shot("06-replay-result"))
	if ok, failed := text("#replay-succeeded"), text("#replay-failed"); ok != "3" || failed != "0" {
		t.Fatalf("replay result: %s succeeded, %s failed", ok, failed)
	}
	waitUntil(t, time.Minute, "the inbox receives the 3 replayed orders", func() bool {
		return len(inbox.Messages("refused@example.com")) == 3
	})
	if n := len(inbox.Messages("refused-too@example.com")); n != 0 {
		t.Fatalf("the welcome outside the filter was sent (%d)", n)
	}
	waitUntil(t, time.Minute, "ClickHouse shows the replayed orders delivered", func() bool {
		done, _ := store.FindEvents(ctx, clickhouse.EventQuery{Status: "completed"})
		return len(done) == 8
	})

	// The replayed order's page shows the message that went out, read back
	// from its delivered outcome, not recomputed.
	run("sent message",
		chromedp.Navigate(eventURL),
		chromedp.WaitVisible(chromedp.CSS("#reveal")),
		chromedp.Click(chromedp.CSS("#reveal")),
		chromedp.WaitVisible(chromedp.CSS("#message-source")),
		shot("09-sent-message"),
	)
	eventID := eventURL[strings.LastIndex(eventURL, "/")+1:]
	var sent string
	for _, m := range inbox.Messages("refused@example.com") {
		if m.IdempotencyKey == eventID {
			sent = m.Content
		}
	}
	if src, msg := text("#message-source"), text("#message"); !strings.HasPrefix(src, "Sent:") || sent == "" || msg != sent {
		t.Fatalf("message of %s: %q %q, the inbox received %q", eventID, src, msg, sent)
	}

	// The overview shows the new outcomes.
	run("overview", chromedp.Navigate(baseURL+"/"), chromedp.WaitVisible(chromedp.CSS("#statuses")), shot("07-overview"))
	if done, dead := text("#status-completed"), text("#status-dead"); done != "8" || dead != "4" {
		t.Fatalf("overview after the replay: %s completed, %s dead (want 8 and 4)", done, dead)
	}
	if a := text("#accepted"); a != "12" { // 9 accepted + 3 replayed records received again
		t.Logf("accepted in the last hour: %s", a)
	}
	if lag := text("#lag"); !strings.Contains(lag, "shopstream-processor") {
		t.Fatalf("overview lag: %q", lag)
	}

	// The catalog: two products go to the Coze fake; the page shows the
	// document as Coze reports it beside shopstream's record.
	for i, name := range []string{"Blue Mug", "Green Teapot"} {
		analyticsPost(t, cfg, "product", productBody("product.created", 4400+i, name, "12.50", base), "")
	}
	waitUntil(t, time.Minute, "Coze holds the catalog and the console shows its record", func() bool {
		docs := kb.Documents()
		if len(docs) != 1 || docs[0].Status != cozetest.StatusDone || !strings.Contains(string(docs[0].Content), "Green Teapot") {
			return false
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(baseURL+"/catalog"), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			return false
		}
		s, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
		return err == nil && strings.Contains(s, `id="download"`) && strings.Contains(s, docs[0].ID)
	})
	run("catalog", chromedp.WaitVisible(chromedp.CSS("#kb-doc")), shot("08-catalog"))
	if d := text("#kb-doc"); !strings.Contains(d, kb.Documents()[0].ID) || !strings.Contains(d, "processed") {
		t.Fatalf("knowledge base document: %q", d)
	}
	noViolations(t, "coze", kb.Violations())
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "var", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func saveScreenshot(t *testing.T, dir, name string, png []byte) error {
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		return err
	}
	if os.Getenv("SHOPSTREAM_CONSOLE_SCREENSHOTS") == "docs" {
		docs := filepath.Join("..", "..", "docs", "console")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(docs, name+".png"), png, 0o644)
	}
	t.Logf("screenshot %s", filepath.Join(dir, name+".png"))
	return nil
}
