// Package catalog is the Kafka side of the catalog sync: the processor's
// marks (marks.go), the compacted product state that is the catalog when no
// EverShop admin API is configured (state.go, versions.go), and the trigger
// that coalesces marks into regenerations (trigger.go).
//
// How a burst becomes one regeneration:
//
//   - A processor applies a product event (writes its state, when the state
//     topic is the catalog) and only then writes a mark to the sync topic,
//     carrying the event and its shopstream-received-at (when the ingress
//     accepted it). It commits the event's offset after both.
//   - The sync topic has one partition, so one member of the catalog group
//     owns the marks. Its window (pipeline.DebounceWindow) is timed by the
//     marks' received-at, not by their arrival: processors that fall behind
//     deliver a burst's marks late, but not later in received-at.
//   - Once the quiet period has passed since the last received-at it knows,
//     the owner asks whether the processors have caught up: the processor
//     group's committed offsets on evershop.product reached the end offsets
//     read just before (lag zero, kafka.LagMonitor), and it has taken every
//     mark written to the sync topic up to its end offset read after that.
//     Only then is the burst known to be over and a snapshot complete; the
//     max wait from the first received-at bounds the wait.
//   - A sync covers every mark taken before it started (their state writes
//     were acknowledged before the marks were written). On success the owner
//     reads those marks again by offset to record each event's outcome, marks
//     the last one and commits. It holds no mark in memory meanwhile: a
//     window is two times and a counter, the marks taken are an offset range,
//     so a long knowledge-base outage costs nothing but retries (transient
//     failures are retried with backoff for as long as they last; a permanent
//     failure dead-letters the covered events at once, as the retry policy
//     does with events).
//
// Ownership is fenced by the consumer runtime (consume): when the partition
// is revoked or lost, its worker stops, its Marker refuses marks, and
// OnRevoked cancels the owner's sync and waits for it before the rebalance
// completes. The next owner re-reads every mark past the committed offset.
// The knowledge base itself (coze.Client.ReplaceCatalog) keeps exactly one
// catalog document even if two owners ever upload at once, and decides
// "unchanged, skip the upload" from the documents it holds, whose names carry
// the content hash.
//
// The state never goes backwards: values carry pipeline.ProductVersion,
// deletes are versioned values rather than bare tombstones, the writer
// refuses older versions (it loads the state partition aligned with each
// product partition it owns), and the reader keeps the newest version of
// each product.
package catalog
