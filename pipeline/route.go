package pipeline

// action is what an event asks for: one of skip, catalog or a notification
// (with the order step it announces, for the order ledger).
type action struct {
	skip    string // why nothing is done
	catalog bool
	alerts  bool // evaluate store alerts (product events)
	note    Notification
	step    *OrderStep // order.created and order.updated
	// delivery is an alert message for one channel, back from a retry
	// tier or replayed from the DLQ (alert_delivery.go).
	delivery *AlertDelivery
}

// orderStep is the step an order event announces. The time is the order
// row's updated_at, else the envelope's timestamp.
func orderStep(ev Event, o Order, status string) *OrderStep {
	at := o.UpdatedAt
	if at.IsZero() {
		at = ev.Timestamp
	}
	return &OrderStep{OrderID: o.ID, Status: status, Rank: OrderRank(status), UpdatedAt: at, EventID: ev.ID}
}

// plan routes an event to its action. Invalid data is a permanent error.
func (p *Processor) plan(ev Event) (action, error) {
	switch ev.Type {
	case AlertDeliveryType:
		m, err := ParseAlertDelivery(ev.Body)
		if err != nil {
			return action{}, err
		}
		return action{delivery: &m}, nil
	case ProductCreated, ProductUpdated, ProductDeleted:
		alerts := p.deps.Alerts != nil && p.deps.AlertSender != nil
		if !p.cfg.AutoSyncCatalog && !alerts {
			return action{skip: "catalog sync is off (WEBHOOK_AUTO_SYNC_PRODUCTS=false)"}, nil
		}
		return action{catalog: p.cfg.AutoSyncCatalog, alerts: alerts}, nil
	case OrderCreated:
		if !p.cfg.SendOrderConfirmation {
			return action{skip: "order confirmations are off (WEBHOOK_SEND_ORDER_CONFIRMATION=false)"}, nil
		}
		o, err := ParseOrder(ev.Data)
		if err != nil {
			return action{}, err
		}
		if o.CustomerEmail == "" {
			return action{skip: "order has no customer e-mail"}, nil
		}
		// The confirmation is the order's first step (rank new): once a
		// status update was sent, a late confirmation is superseded.
		return action{note: Notification{EventID: ev.ID, Email: o.CustomerEmail,
			Text: OrderConfirmationMessage(o), Reason: OrderCreated},
			step: orderStep(ev, o, "new")}, nil
	case OrderUpdated:
		o, err := ParseOrder(ev.Data)
		if err != nil {
			return action{}, err
		}
		text, ok := StatusMessage(o)
		if !ok {
			return action{skip: "no customer-facing status change"}, nil
		}
		if o.CustomerEmail == "" {
			return action{skip: "order has no customer e-mail"}, nil
		}
		status := NotifiedStatus(o)
		return action{
			note: Notification{EventID: ev.ID, Email: o.CustomerEmail, Text: text, Reason: OrderUpdated + ":" + status},
			step: orderStep(ev, o, status),
		}, nil
	case CustomerCreated:
		if !p.cfg.SendWelcome {
			return action{skip: "welcome messages are off (WEBHOOK_SEND_WELCOME_MESSAGE=false)"}, nil
		}
		c, err := ParseCustomer(ev.Data)
		if err != nil {
			return action{}, err
		}
		if c.Email == "" {
			return action{skip: "customer has no e-mail"}, nil
		}
		return action{note: Notification{EventID: ev.ID, Email: c.Email, Text: WelcomeMessage(c), Reason: "welcome"}}, nil
	}
	return action{}, Permanentf("no action for event type %q", ev.Type)
}
