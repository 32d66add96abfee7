package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/kafka"
)

// lagProbe answers GET /lag?group=G&topic=T&prefix=P: the records of the
// named topics (and of every topic starting with a prefix) that group G
// has not committed yet, measured now with shopstream's own LagMonitor.
// The run waits on it instead of sleeping: the processor commits a product
// event only after the alerts it fired are on shopstream.alerts, and the
// alerts' owner commits an alert only once the channels took it, so both
// groups at lag 0 (with the store's outbox drained) means every alert the
// run caused has reached the fakes, and the counts there are final.
type lagProbe struct {
	adm *kadm.Client
	log *slog.Logger
}

func newLagProbe(brokers string, log *slog.Logger) (*lagProbe, func(), error) {
	cfg := kafka.DefaultConfig()
	cfg.Brokers = strings.Split(brokers, ",")
	cfg.ClientIDPrefix = "e2e-fakes"
	cl, err := kafka.NewClient(cfg, "lag", log, nil)
	if err != nil {
		return nil, nil, err
	}
	return &lagProbe{adm: kadm.NewClient(cl), log: log}, cl.Close, nil
}

func (l *lagProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	group, topics := q.Get("group"), q["topic"]
	if group == "" || len(topics)+len(q["prefix"]) == 0 {
		http.Error(w, "group and at least one topic or prefix are required", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if prefixes := q["prefix"]; len(prefixes) > 0 {
		all, err := l.adm.ListTopics(ctx)
		if err != nil {
			http.Error(w, "list topics: "+err.Error(), http.StatusBadGateway)
			return
		}
		for _, t := range all.Names() {
			if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(t, p) }) && !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	lags, err := kafka.NewLagMonitor(l.adm, map[string][]string{group: topics}, time.Second, l.log, nil).Measure(ctx)
	if err != nil {
		http.Error(w, "measure lag: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(lags[group])
}
