package pipeline

// Lifecycle ranks of the status keys a customer hears about (NotifiedStatus)
// plus "new", the order.created confirmation. They break ties between steps
// of one order stamped with the same updated_at (EverShop stamps whole
// seconds).
//
// One table covers both EverShop status fields, because one message
// announces one key taken from either (NotifiedStatus): the order status
// (new → processing → completed → closed, or canceled) and the shipment
// roll-up (pending, partially_shipped, shipped, partially_delivered,
// delivered, partially_canceled, canceled). The payment status is never
// announced, so it has no rank. The spec's short form carries
// shipped/delivered in status; they rank the same.
//
//	0 new                  the confirmation (order.created)
//	1 pending, processing  payment landed, being prepared
//	2 partially_canceled   part of it will never ship: told before the rest moves
//	3 partially_shipped
//	4 shipped
//	5 partially_delivered
//	6 delivered
//	7 completed
//	8 closed, canceled     terminal
//
// An unknown status (a custom EverShop status, "on_hold") ranks with
// processing: it is an intermediate state, and a later updated_at still
// orders it against everything else.
const (
	RankNew        = 0
	RankProcessing = 1
	RankTerminal   = 8
)

var orderRanks = map[string]int{
	"new":                 RankNew,
	"pending":             RankProcessing,
	"processing":          RankProcessing,
	"partially_canceled":  2,
	"partially_shipped":   3,
	"shipped":             4,
	"partially_delivered": 5,
	"delivered":           6,
	"completed":           7,
	"closed":              RankTerminal,
	"canceled":            RankTerminal,
}

// OrderRank is the lifecycle rank of a status (any spelling orderStatusKey
// canonicalises: "Cancelled", "partially-shipped").
func OrderRank(status string) int {
	if r, ok := orderRanks[orderStatusKey(status)]; ok {
		return r
	}
	return RankProcessing
}
