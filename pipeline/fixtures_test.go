package pipeline

import (
	"path/filepath"
	"testing"
)

// webhookFixtures lists the repository's webhook fixtures (testdata/webhooks
// at the repository root). A checkout without them is broken, so an empty
// list fails the test instead of letting it pass with nothing checked.
func webhookFixtures(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob("../testdata/webhooks/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no webhook fixtures in ../testdata/webhooks: %v", err)
	}
	return files
}
