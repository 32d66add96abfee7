package pipeline

import (
	"encoding/json"
	"strings"
)

// Customer is what shopstream needs to welcome a customer. It deliberately
// has no field for anything else a customer row carries: EverShop's rows
// include the password hash, and a value that is never read cannot leak into
// a log line, a DLQ header or a message.
type Customer struct {
	ID    string
	Email string
	Name  string
}

// ParseCustomer reads a customer webhook's data in either shape: the spec's
// {id, email, name} or EverShop's row {customer_id, uuid, email, full_name,
// ...}. The id follows the ingress rule (EntityID: id, else customer_id, else
// uuid). Data that is not an object, has no id or a field of the wrong type
// is a *PermanentError.
func ParseCustomer(data json.RawMessage) (Customer, error) {
	f, err := decodeDataFields(data)
	if err != nil {
		return Customer{}, Permanentf("customer: %w", err)
	}
	id, err := EntityID(KindCustomer, data)
	if err != nil {
		return Customer{}, Permanentf("customer: %w", err)
	}
	c := Customer{ID: id}
	if c.Email, err = f.text("email"); err != nil {
		return Customer{}, Permanentf("customer %s: %w", id, err)
	}
	if c.Name, err = f.text("name", "full_name", "fullName"); err != nil {
		return Customer{}, Permanentf("customer %s: %w", id, err)
	}
	c.Name = strings.Join(strings.Fields(c.Name), " ")
	return c, nil
}
