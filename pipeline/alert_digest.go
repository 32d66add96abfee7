package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
)

// AlertDigest is one message for many crossings in one window (an import, a
// sale that reprices the catalog): counts per trigger, the first alerts,
// and the full list as CSV.
type AlertDigest struct {
	ID     string               `json:"id"`
	Total  int                  `json:"total"`
	Counts map[AlertTrigger]int `json:"counts"`
	First  []Alert              `json:"first"`
	CSV    string               `json:"csv"`
	Quiet  bool                 `json:"quiet,omitempty"`
	Alerts []Alert              `json:"-"`
}

// DigestRule shapes a window's messages: fewer than Min alerts are sent
// one by one; Min or more become one digest listing the first First.
type DigestRule struct {
	Min   int // 0 or 1: every window of two or more is a digest
	First int // default 10
}

// PlanDigest splits one window's alerts (in arrival order, duplicates by id
// dropped) into the messages to send: the alerts themselves when there are
// fewer than the rule's Min, else one digest. The digest id is derived from
// the alert ids, so the same window always gives the same digest.
func PlanDigest(rule DigestRule, window []Alert) (singles []Alert, digest *AlertDigest) {
	seen := make(map[string]bool, len(window))
	var alerts []Alert
	for _, a := range window {
		if !seen[a.ID] {
			seen[a.ID] = true
			alerts = append(alerts, a)
		}
	}
	if len(alerts) < max(rule.Min, 2) {
		return alerts, nil
	}
	first := rule.First
	if first <= 0 {
		first = 10
	}
	ids := make([]string, len(alerts))
	d := &AlertDigest{Total: len(alerts), Counts: map[AlertTrigger]int{}, Alerts: alerts, Quiet: true}
	for i, a := range alerts {
		ids[i] = a.ID
		d.Counts[a.Trigger]++
		d.Quiet = d.Quiet && a.Quiet
	}
	slices.Sort(ids)
	d.ID = AlertID("digest", ids[0], strings.Join(ids, ","))
	d.First = alerts[:min(first, len(alerts))]
	d.CSV = AlertsCSV(alerts)
	return nil, d
}

// AlertsCSV renders alerts as RFC 4180 CSV with a header row.
func AlertsCSV(alerts []Alert) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"alert_id", "trigger", "product_id", "sku", "name", "old", "new", "at", "event_id"})
	for _, a := range alerts {
		_ = w.Write([]string{a.ID, string(a.Trigger), a.ProductID, a.SKU, a.Name, a.Old, a.New, a.At.UTC().Format("2006-01-02T15:04:05Z"), a.EventID})
	}
	w.Flush()
	return b.String()
}

// DigestText is the digest's message: the counts, then the first alerts,
// one line each, then how many more.
func DigestText(d AlertDigest, storeURL string) string {
	var b strings.Builder
	kinds := make([]string, 0, len(d.Counts))
	for _, t := range append(productTriggers[:], AlertDeadLetter, AlertHeldTooLong) {
		if n := d.Counts[t]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(t), "_", " ")))
		}
	}
	fmt.Fprintf(&b, "%d store alerts: %s.", d.Total, strings.Join(kinds, ", "))
	for _, a := range d.First {
		b.WriteString("\n- " + AlertText(a, storeURL))
	}
	if more := d.Total - len(d.First); more > 0 {
		fmt.Fprintf(&b, "\n…and %d more (full list in the CSV).", more)
	}
	return b.String()
}
