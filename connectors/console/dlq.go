package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

// listLimit is how many dead letters a page shows; counts and replays
// always cover every match.
const listLimit = 200

// deliveredChunk is how many event ids one "already delivered" query
// carries: the ids go inline into the query text, which ClickHouse caps
// (max_query_size, 256 KiB by default).
const deliveredChunk = 1000

// dlqFilter reads the dead-letter filter (query string or form): type,
// error text, failed-at range, minimum attempts, and the selected event ids.
func (s *Server) dlqFilter(v url.Values) (pipeline.ReplayFilter, error) {
	var f pipeline.ReplayFilter
	if t := v.Get("type"); t != "" {
		if !contains(eventTypes, t) {
			return f, fmt.Errorf("%w: unknown event type %q", errBadFilter, t)
		}
		f.EventTypes = []string{t}
	}
	f.ErrorContains = strings.TrimSpace(v.Get("error"))
	if a := strings.TrimSpace(v.Get("attempts")); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return f, fmt.Errorf("%w: attempts %q is not a count", errBadFilter, a)
		}
		f.MinAttempts = n
	}
	var err error
	f.Since, f.Until, err = parseRange(v, s.cfg.Now())
	return f, err
}

// filterQuery is the filter part of v, to carry it through links and forms.
func filterQuery(v url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"type", "error", "since", "until", "attempts"} {
		if x := v.Get(k); x != "" {
			out.Set(k, x)
		}
	}
	return out
}

// letterRow is one line of the list, flat: the template reads plain
// fields (an embedded struct costs a reflect lookup per field and row).
type letterRow struct {
	Partition                    int32
	Offset                       int64
	FailedAt                     time.Time
	EventID, EventType, EntityID string
	Attempts                     int
	Error                        string
	Delivered                    bool
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := s.dlqFilter(q)
	if err != nil {
		s.fail(w, r, badRequest(err), "dead-letter filter", err)
		return
	}
	list, err := s.deps.DeadLetters.List(r.Context(), f, listLimit)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "read evershop.dlq", err)
		return
	}
	delivered, derr := s.deliveredOf(r.Context(), list.Letters)
	rows := make([]letterRow, len(list.Letters))
	// Letters from the index (KafkaDeadLetters.Index) have no body: their
	// Error was masked with the body's values when indexed, and masking it
	// again with the patterns changes nothing.
	for i, d := range list.Letters {
		rows[i] = letterRow{Partition: d.Partition, Offset: d.Offset, FailedAt: d.FailedAt, EventID: d.Event.ID, EventType: d.Event.Type,
			EntityID: d.Event.EntityID, Attempts: d.Attempts, Delivered: delivered[d.Event.ID],
			Error: maskError(d.Error, personalValues(d.Event.Body, d.Event.Kind == pipeline.KindProduct))}
	}
	data := map[string]any{"Q": q, "Types": eventTypes, "List": list, "Rows": rows, "Limit": listLimit, "Filter": filterQuery(q).Encode()}
	if derr != nil {
		data["DeliveredError"] = derr.Error()
	}
	s.render(w, r, "dlq", data)
}

func (s *Server) deliveredOf(ctx context.Context, letters []replay.DeadLetter) (map[string]bool, error) {
	c := s.newDeliveredCheck(ctx)
	for _, d := range letters {
		if err := c.add(d.Event.ID); err != nil {
			return c.delivered, err
		}
	}
	return c.done()
}

// deliveredCheck asks the event store which event ids were delivered,
// deliveredChunk ids per query, and merges the answers. It holds one chunk
// of ids and the delivered ones, so a replay can stream the whole DLQ
// through it.
type deliveredCheck struct {
	ctx       context.Context
	events    EventStore
	pending   []string
	queued    map[string]bool // the ids in pending
	delivered map[string]bool
}

func (s *Server) newDeliveredCheck(ctx context.Context) *deliveredCheck {
	return &deliveredCheck{ctx: ctx, events: s.deps.Events, queued: map[string]bool{}, delivered: map[string]bool{}}
}

func (c *deliveredCheck) add(id string) error {
	if c.queued[id] || c.delivered[id] {
		return nil
	}
	c.pending = append(c.pending, id)
	c.queued[id] = true
	if len(c.pending) >= deliveredChunk {
		return c.flush()
	}
	return nil
}

func (c *deliveredCheck) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	got, err := c.events.Delivered(c.ctx, c.pending)
	for id, ok := range got {
		if ok {
			c.delivered[id] = true
		}
	}
	c.pending = c.pending[:0]
	clear(c.queued)
	return err
}

// done checks what is pending and returns the delivered ids.
func (c *deliveredCheck) done() (map[string]bool, error) {
	err := c.flush()
	return c.delivered, err
}

func (s *Server) deadLetter(w http.ResponseWriter, r *http.Request) {
	p, err1 := strconv.ParseInt(chi.URLParam(r, "partition"), 10, 32)
	o, err2 := strconv.ParseInt(chi.URLParam(r, "offset"), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		s.renderStatus(w, r, http.StatusBadRequest, "error", map[string]any{"What": "dead letter", "Error": "partition and offset must be numbers"})
		return
	}
	d, err := s.deps.DeadLetters.Letter(r.Context(), int32(p), o)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "read the dead letter", err)
		return
	}
	delivered, _ := s.deps.Events.Delivered(r.Context(), []string{d.Event.ID})
	product := d.Event.Kind == pipeline.KindProduct
	body, masked := prettyBody(d.Event.Body, product, false)
	d.Error = maskError(d.Error, personalValues(d.Event.Body, product))
	s.render(w, r, "dlq_detail", map[string]any{"L": d, "Body": body, "Masked": masked, "Delivered": delivered[d.Event.ID]})
}

// replay is the dead-letter action, in two steps: step=dryrun counts what
// would be replayed and asks for confirmation; step=replay with
// confirmed=yes (only the confirmation page sends it) replays and shows
// the succeeded and failed counts. scope is "filter" (everything matching
// the filter), "selection" (the ticked event ids, within the filter) or
// "one" (a single event id). Events already delivered (a completed outcome
// in ClickHouse) are passed over unless force is set.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "replay form", err)
		return
	}
	form := r.PostForm
	f, err := s.dlqFilter(form)
	if err != nil {
		s.fail(w, r, badRequest(err), "dead-letter filter", err)
		return
	}
	scope := form.Get("scope")
	ids := pipeline.SplitList(strings.Join(form["id"], ","))
	switch scope {
	case "filter":
	case "selection", "one":
		if len(ids) == 0 {
			s.renderStatus(w, r, http.StatusBadRequest, "error", map[string]any{"What": "replay", "Error": "no dead letter selected"})
			return
		}
		f.EventIDs = ids
	default:
		s.renderStatus(w, r, http.StatusBadRequest, "error", map[string]any{"What": "replay", "Error": "scope must be filter, selection or one"})
		return
	}
	force := form.Get("force") == "yes"
	// Count the matches and check which were delivered, streaming over the
	// DLQ: only the ids of one chunk and the delivered ones are held.
	// Forced replays include delivered events, so they skip the check.
	matched := 0
	check := s.newDeliveredCheck(r.Context())
	var delivered map[string]bool
	var checkErr error
	err = s.deps.DeadLetters.Each(r.Context(), f, func(d replay.DeadLetter) error {
		matched++
		if force {
			return nil
		}
		checkErr = check.add(d.Event.ID)
		return checkErr // a failed check stops the read: the replay is refused
	})
	if err == nil && !force {
		delivered, checkErr = check.done()
	}
	if checkErr != nil {
		s.fail(w, r, http.StatusBadGateway, "check delivered events in ClickHouse (force replays without the check)", checkErr)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "read evershop.dlq", err)
		return
	}
	skip := func(ev pipeline.Event) bool { return !force && delivered[ev.ID] }
	step := form.Get("step")
	dryRun := step != "replay" || form.Get("confirmed") != "yes"
	prog, err := s.deps.DeadLetters.Replay(r.Context(), f, dryRun, skip)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "replay", err)
		return
	}
	data := map[string]any{"Scope": scope, "IDs": ids, "Force": force, "Progress": prog, "Form": filterQuery(form), "Matched": matched}
	if dryRun {
		s.render(w, r, "dlq_confirm", data)
		return
	}
	s.log.Info("console: dead letters replayed", "scope", scope, "force", force, "replayed", prog.Replayed, "failed", prog.Failed,
		"delivered_skipped", prog.Delivered, "user", sessionOf(r).user)
	s.render(w, r, "dlq_result", data)
}
