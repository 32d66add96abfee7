package clickhouse

import (
	"context"
	"time"
)

// SentMessage is the customer message a delivered outcome recorded
// (webhook_events.message, migration 0004).
type SentMessage struct {
	Text   string
	SentAt time.Time // the delivered outcome's processed_at
}

// SentMessage reads back the message the processor sent for one event: the
// first delivered outcome that carries one. false: none recorded (the event
// sends none, is not delivered yet, or was delivered before migration 0004
// or by an older processor). The event type narrows the read to the sorting
// key's prefix (event_type, event_id).
func (s *Store) SentMessage(ctx context.Context, eventType, eventID string) (SentMessage, bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT message, processed_at_ms FROM webhook_events "+
		"WHERE event_type = ? AND event_id = ? AND status = 'completed' AND message != '' "+
		"ORDER BY processed_at_ms LIMIT 1", eventType, eventID)
	if err != nil {
		return SentMessage{}, false, Classify("sent message", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return SentMessage{}, false, Classify("sent message", rows.Err())
	}
	var m SentMessage
	var ms int64
	if err := rows.Scan(&m.Text, &ms); err != nil {
		return SentMessage{}, false, Classify("sent message", err)
	}
	m.SentAt = time.UnixMilli(ms).UTC()
	return m, true, Classify("sent message", rows.Err())
}
