package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/pipeline"
)

// eventStatuses are the statuses an event can end in (the search's choice).
var eventStatuses = []string{"received", "completed", "retrying", "dead", "duplicate", "superseded", "skipped", string(pipeline.StatusDeferred)}

// eventTypes are every webhook type, and the store alerts' deliveries
// (retried, dead-lettered and replayed like events), the filters' choice.
var eventTypes = []string{pipeline.ProductCreated, pipeline.ProductUpdated, pipeline.ProductDeleted, pipeline.OrderCreated, pipeline.OrderUpdated, pipeline.CustomerCreated, pipeline.AlertDeliveryType}

// errBadFilter marks a filter an operator typed wrong: 400, not 500.
var errBadFilter = errors.New("bad filter")

// parseRange reads since/until: RFC 3339, a duration back from now (2h),
// or the browser's datetime-local (2006-01-02T15:04, taken as UTC).
func parseRange(q url.Values, now time.Time) (since, until time.Time, err error) {
	parse := func(name string) (time.Time, error) {
		v := strings.TrimSpace(q.Get(name))
		if t, err := time.Parse("2006-01-02T15:04", v); err == nil {
			return t, nil
		}
		t, err := pipeline.ParseWhen(v, now)
		if err != nil {
			return t, fmt.Errorf("%w: %s: %w", errBadFilter, name, err)
		}
		return t, nil
	}
	if since, err = parse("since"); err != nil {
		return
	}
	if until, err = parse("until"); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		err = fmt.Errorf("%w: since must be before until", errBadFilter)
	}
	return
}

// eventQuery reads the search form. The entity id is one box for order,
// product and customer ids (they are keys of different topics; a type
// narrows it down).
func eventQuery(q url.Values, now time.Time) (clickhouse.EventQuery, error) {
	eq := clickhouse.EventQuery{
		EntityID:  strings.TrimSpace(q.Get("entity")),
		EventID:   strings.TrimSpace(q.Get("event_id")),
		EventType: q.Get("type"),
		Status:    q.Get("status"),
		Limit:     100,
	}
	if eq.EventType != "" && !contains(eventTypes, eq.EventType) {
		return eq, fmt.Errorf("%w: unknown event type %q", errBadFilter, eq.EventType)
	}
	if eq.Status != "" && !contains(eventStatuses, eq.Status) {
		return eq, fmt.Errorf("%w: unknown status %q", errBadFilter, eq.Status)
	}
	var err error
	eq.Since, eq.Until, err = parseRange(q, now)
	if err == nil && q.Get("since") == "" && eq.EntityID == "" && eq.EventID == "" {
		eq.Since = now.Add(-24 * time.Hour) // an open search reads the last day
	}
	return eq, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func badRequest(err error) int {
	if errors.Is(err, errBadFilter) {
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

func (s *Server) findEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := map[string]any{"Q": q, "Types": eventTypes, "Statuses": eventStatuses}
	eq, err := eventQuery(q, s.cfg.Now())
	if err != nil {
		s.fail(w, r, badRequest(err), "search", err)
		return
	}
	data["Since"] = eq.Since
	events, err := s.deps.Events.FindEvents(r.Context(), eq)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "search events in ClickHouse", err)
		return
	}
	for i := range events { // the list has no bodies: the patterns only
		events[i].Error = maskError(events[i].Error, nil)
	}
	data["Events"] = events
	s.render(w, r, "events", data)
}

// timelineStep is one line of an event's timeline. Hidden: its error text
// is withheld until reveal (the body is unreadable, so the personal values
// to mask in it are unknown).
type timelineStep struct {
	clickhouse.TimelineRow
	Label  string
	Hidden bool
}

func label(row clickhouse.TimelineRow) string {
	switch row.Status {
	case "received":
		return "received"
	case "retrying":
		return fmt.Sprintf("attempt %d failed, retrying", row.Attempt)
	case "dead":
		return fmt.Sprintf("attempt %d failed, dead-lettered", row.Attempt)
	case "completed":
		return fmt.Sprintf("attempt %d delivered", row.Attempt)
	}
	return fmt.Sprintf("attempt %d: %s", row.Attempt, row.Status)
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) { s.showEvent(w, r, false, "") }

func (s *Server) revealEvent(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	s.log.Info("console: personal data revealed", "event_id", chi.URLParam(r, "id"), "user", se.user)
	s.showEvent(w, r, true, "")
}

func (s *Server) showEvent(w http.ResponseWriter, r *http.Request, reveal bool, notice string) {
	id := chi.URLParam(r, "id")
	rows, err := s.deps.Events.Timeline(r.Context(), id)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "read the timeline from ClickHouse", err)
		return
	}
	if len(rows) == 0 {
		s.renderStatus(w, r, http.StatusNotFound, "error", map[string]any{"What": "event " + id, "Error": "no outcome of this event in webhook_events (yet)"})
		return
	}
	data := map[string]any{"ID": id, "Reveal": reveal, "Notice": notice}
	var known []string // the body's personal values, masked in error texts too
	var ev *pipeline.Event
	src, err := s.sourceOf(r, rows)
	if err != nil {
		data["BodyError"] = err.Error()
	} else {
		data["Source"] = src
		ev = &src.Event
		product := src.Event.Kind == pipeline.KindProduct
		data["Body"], data["Masked"] = prettyBody(src.Event.Body, product, reveal)
		known = personalValues(src.Event.Body, product)
	}
	if reveal {
		// What was sent is read back whether or not the body still is
		// (past the source topic's retention it is not).
		s.messageOf(r, id, eventType(rows, ev), ev, rows, data)
	}
	var steps []timelineStep
	delivered, maskedErrors, hiddenErrors := false, 0, 0
	masks := compileKnown(known)
	for _, row := range rows {
		step := timelineStep{TimelineRow: row, Label: label(row)}
		switch {
		case reveal || row.Error == "":
		case ev == nil: // nothing to learn the names from: hide it all
			step.Error, step.Hidden = "", true
			hiddenErrors++
		default:
			if m := masks.mask(row.Error); m != row.Error {
				step.Error = m
				maskedErrors++
			}
		}
		steps = append(steps, step)
		delivered = delivered || row.Status == "completed"
	}
	data["Steps"], data["Delivered"], data["MaskedErrors"], data["HiddenErrors"] = steps, delivered, maskedErrors, hiddenErrors
	data["Outcome"] = rows[len(rows)-1].Status
	s.render(w, r, "event", data)
}

// eventType is the event's webhook type: from its outcomes, else its body.
func eventType(rows []clickhouse.TimelineRow, ev *pipeline.Event) string {
	for _, row := range rows {
		if row.EventType != "" {
			return row.EventType
		}
	}
	if ev != nil {
		return ev.Type
	}
	return ""
}

// sourceOf reads the accepted record of the event: the one its received
// row (else its first row on a source topic) points at.
func (s *Server) sourceOf(r *http.Request, rows []clickhouse.TimelineRow) (Source, error) {
	for _, row := range rows {
		if strings.HasPrefix(row.Topic, "evershop.") && !strings.HasPrefix(row.Topic, "evershop.retry.") && row.Topic != "evershop.dlq" && row.Topic != "evershop.events" {
			return s.deps.DeadLetters.Record(r.Context(), row.Topic, row.Partition, row.Offset)
		}
	}
	return Source{}, errors.New("no outcome of this event names its accepted record")
}

// messageOf fills the page's customer message: the text recorded as sent
// with the delivered outcome when there is one ("sent"), else the text the
// processor's functions render from the body ev ("recomputed"; nil: the
// body is unreadable), marked as such and with the reason, which follows
// the event's last outcome.
func (s *Server) messageOf(r *http.Request, id, typ string, ev *pipeline.Event, rows []clickhouse.TimelineRow, data map[string]any) {
	if s.deps.Messages != nil && typ != "" {
		m, ok, err := s.deps.Messages.SentMessage(r.Context(), typ, id)
		switch {
		case err != nil:
			data["MessageError"] = err.Error()
		case ok:
			data["Message"], data["MessageSource"], data["MessageAt"] = m.Text, "sent", m.SentAt
			return
		}
	}
	if ev == nil {
		return
	}
	text := customerMessage(*ev)
	if text == "" {
		return
	}
	data["Message"], data["MessageSource"], data["MessageWhy"] = text, "recomputed", whyRecomputed(rows, s.deps.Messages != nil)
}

// whyRecomputed says why the page shows a recomputed text: by the event's
// delivery if it was delivered, else by its last outcome.
func whyRecomputed(rows []clickhouse.TimelineRow, reads bool) string {
	for _, row := range rows {
		if row.Status == "completed" {
			if !reads {
				return "this console reads no recorded messages"
			}
			return "its delivered outcome carries no recorded text (delivered before migration 0004, by an older processor, or the event sends none)"
		}
	}
	switch last := rows[len(rows)-1].Status; last {
	case "dead":
		return "not sent: dead-lettered; a replay would send this"
	case "superseded", "skipped":
		return "not sent: " + last + "; this is what the processor would have sent"
	case "duplicate":
		return "already sent earlier; no text recorded for this event"
	default: // received, retrying
		return "not delivered yet: this is what the processor would send"
	}
}

// customerMessage is the text the processor sends for the event (the same
// pure functions), or "" when it sends none.
func customerMessage(ev pipeline.Event) string {
	switch ev.Type {
	case pipeline.OrderUpdated:
		if o, err := pipeline.ParseOrder(ev.Data); err == nil {
			if text, ok := pipeline.StatusMessage(o); ok {
				return text
			}
		}
	case pipeline.OrderCreated:
		if o, err := pipeline.ParseOrder(ev.Data); err == nil {
			return pipeline.OrderConfirmationMessage(o) + " (sent only with WEBHOOK_SEND_ORDER_CONFIRMATION=true)"
		}
	case pipeline.CustomerCreated:
		if c, err := pipeline.ParseCustomer(ev.Data); err == nil {
			return pipeline.WelcomeMessage(c) + " (sent only with WEBHOOK_SEND_WELCOME_MESSAGE=true)"
		}
	}
	return ""
}

// resendEvent is the explicit "force" re-send of an event, delivered or
// not: the first POST asks for confirmation, the second (confirm=yes) puts
// the accepted record back on its topic through the replay code.
func (s *Server) resendEvent(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rows, err := s.deps.Events.Timeline(r.Context(), id)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, "read the timeline from ClickHouse", err)
		return
	}
	src, err := s.sourceOf(r, rows)
	if err != nil {
		s.fail(w, r, http.StatusConflict, "force re-send", err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.render(w, r, "confirm_resend", map[string]any{"ID": id, "Source": src})
		return
	}
	if err := s.deps.DeadLetters.Resend(r.Context(), src); err != nil {
		s.fail(w, r, http.StatusBadGateway, "force re-send", err)
		return
	}
	s.log.Info("console: event force re-sent", "event_id", id, "topic", src.Topic, "user", sessionOf(r).user)
	s.showEvent(w, r, false, fmt.Sprintf("Event %s was put back on %s (forced).", id, src.Topic))
}
