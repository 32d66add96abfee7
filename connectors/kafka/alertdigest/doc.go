// Package alertdigest carries store alerts through Kafka to the store
// team's channels, coalescing bursts into digests for the whole group.
//
// The processors publish each alert (Publisher, a pipeline.AlertSender) to
// the single-partition topic shopstream.alerts before they mark the
// product event; one member of the shopstream-alerts group owns that
// partition, however many processes run. Its owner coalesces alerts with
// the catalog sync's window (pipeline.DebounceWindow over each record's
// produce time: quiet period after the last, never later than max wait
// after the first) and then sends the window, channel by channel: fewer
// than the digest minimum one by one, more as one digest
// (pipeline.PlanDigest).
//
// Each message is tried once per channel (pipeline.AlertDispatch). A
// channel that fails is not retried here: the delivery (message + channel,
// pipeline.AlertDelivery) is forwarded like a failed event, by the event
// retry policy, to a retry tier (the processor group's tier consumers
// deliver it again) or to the DLQ (permanent refusal, or the retry max age
// passed), from where `shopstream replay` or the console puts it back on
// the topic it came from. A webhook delivery during the quiet hours is
// written to shopstream.alerts.deferred with its due-at (Deferrer); this
// group's worker of that partition holds it until then, and its owner
// sends what it holds as one digest.
//
// Records are marked and committed only after every message of their
// window, on every channel, was accepted, deferred or durably forwarded
// (acks=all) and its outcome recorded; the outcome writer is flushed before
// the commit. A crash or revoke in between re-reads the window from the
// committed offset and sends it again: the channels are idempotent by the
// message id (Idempotency-Key, webhook-id), and a window re-read whole
// gives the same digest id. A digest is one message and one record on
// every path, never split.
//
// The window is measured on produce times, so records that are already
// older than the quiet period when the owner reads them (a new owner
// re-reading the uncommitted window, records released from the quiet hours)
// make a window that is due at once. Such a window is not sent on the
// first late record: the owner waits for a pause in arrivals (settle,
// min(Quiet, 200 ms)), but no longer than lateMax (2 s, or the max wait
// when shorter) after the first late record, so a backlog becomes one
// digest rather than one message per alert, and a steady stream is still
// sent.
//
// The digester remembers the channel and id of every message it delivered
// in a bounded LRU (rememberSent) and leaves them out of later windows: an
// alert re-published by a retried product event, or re-read after a
// revoke, is not sent twice by the same process.
package alertdigest
