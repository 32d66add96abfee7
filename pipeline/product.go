package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Product is one line of the catalog the support bot answers from.
//
// Price is canonical decimal text (see CanonicalPrice) so the same price
// always renders the same way and the catalog hash only changes when the
// catalog does. Description is plain text (see DescriptionText).
type Product struct {
	ID          string
	SKU         string
	Name        string
	Price       string
	Currency    string
	Qty         int64
	InStock     bool
	Status      string // ProductEnabled or ProductDisabled; absent = enabled (the spec form has none)
	URL         string
	Description string
}

// Product statuses as the catalog shows them.
const (
	ProductEnabled  = "enabled"
	ProductDisabled = "disabled"
)

// ParseProductEvent reads a product webhook's data in either shape: the
// spec's {id, name, description, price, sku, qty} or EverShop's product row
// {product_id, uuid, sku, price: "24.9000", status: true, visibility, ...}.
// The id follows the ingress rule (EntityID: id, else product_id, else uuid).
//
// EverShop's product row carries no name, description, URL or quantity (they
// live in product_description and product_inventory), so from a row those
// stay empty, Qty is 0 and InStock is false: unknown, not "sold out". The
// catalog should come from the admin API (ParseAdminProduct) when one is
// configured. Visibility is ignored: EverShop hides variants individually
// while they stay on sale through their group.
func ParseProductEvent(data json.RawMessage) (Product, error) {
	f, err := decodeDataFields(data)
	if err != nil {
		return Product{}, Permanentf("product: %w", err)
	}
	id, err := EntityID(KindProduct, data)
	if err != nil {
		return Product{}, Permanentf("product: %w", err)
	}
	return parseProductFields(id, f)
}

// ParseAdminProduct reads one item of the admin GraphQL products list
// (productId, sku, name, status 1/0, url, description as Editor.js JSON,
// price.regular{value,currency}, inventory{qty,isInStock}).
func ParseAdminProduct(item json.RawMessage) (Product, error) {
	f, err := decodeDataFields(item)
	if err != nil {
		return Product{}, Permanentf("admin product: %w", err)
	}
	id, err := f.text("productId", "uuid")
	if err != nil {
		return Product{}, Permanentf("admin product: %w", err)
	}
	if id == "" {
		return Product{}, Permanentf("admin product has no productId or uuid")
	}
	return parseProductFields(id, f)
}

// parseProductFields reads everything but the id; both shapes (and the admin
// item) share field names closely enough that one reader serves them all.
func parseProductFields(id string, f dataFields) (Product, error) {
	fail := func(err error) (Product, error) { return Product{}, Permanentf("product %s: %w", id, err) }
	p := Product{ID: id, Status: ProductEnabled}
	var err error
	if p.SKU, err = f.text("sku"); err != nil {
		return fail(err)
	}
	if p.Name, err = f.text("name"); err != nil {
		return fail(err)
	}
	if p.URL, err = f.text("url"); err != nil {
		return fail(err)
	}
	if p.Currency, err = f.text("currency"); err != nil {
		return fail(err)
	}
	p.Description = DescriptionText(f["description"])
	price, currency, err := productPrice(f)
	if err != nil {
		return fail(fmt.Errorf("price: %w", err))
	}
	if p.Price = price; currency != "" {
		p.Currency = currency
	}
	p.Currency = strings.ToUpper(p.Currency)
	if p.Qty, p.InStock, err = productStock(f); err != nil {
		return fail(err)
	}
	enabled, known, err := f.flag("status")
	if err != nil {
		return fail(err)
	}
	if known && !enabled {
		p.Status = ProductDisabled
	}
	return p, nil
}

// productPrice reads "price" as a number, decimal text, or the admin API's
// {regular: {value, currency}} (or a bare {value, currency}).
func productPrice(f dataFields) (price, currency string, err error) {
	key := "price"
	if raw, _ := f.raw("price"); len(raw) > 0 && raw[0] == '{' {
		if f, err = decodeDataFields(raw); err != nil {
			return "", "", err
		}
		if regular, _ := f.raw("regular"); len(regular) > 0 {
			if f, err = decodeDataFields(regular); err != nil {
				return "", "", fmt.Errorf("regular: %w", err)
			}
		}
		if currency, err = f.text("currency"); err != nil {
			return "", "", err
		}
		key = "value"
	}
	text, err := f.text(key)
	if err != nil {
		return "", "", err
	}
	price, err = CanonicalPrice(text)
	return price, currency, err
}

// productStock reads qty and the in-stock flag from the item itself or its
// "inventory" object. Without an explicit flag, stock means qty > 0; without
// either, the product is not claimed to be in stock.
func productStock(f dataFields) (qty int64, inStock bool, err error) {
	sources := []dataFields{f}
	if inv, _ := f.raw("inventory"); len(inv) > 0 {
		invFields, err := decodeDataFields(inv)
		if err != nil {
			return 0, false, fmt.Errorf("inventory: %w", err)
		}
		sources = append(sources, invFields)
	}
	qtyKnown, flagKnown := false, false
	for _, src := range sources {
		if text, err := src.text("qty"); err != nil {
			return 0, false, err
		} else if text != "" && !qtyKnown {
			if qty, err = parseQty(text); err != nil {
				return 0, false, err
			}
			qtyKnown = true
		}
		flag, known, err := src.flag("isInStock", "is_in_stock", "stock_availability")
		if err != nil {
			return 0, false, err
		}
		if known && !flagKnown {
			inStock, flagKnown = flag, true
		}
	}
	if !flagKnown {
		inStock = qty > 0
	}
	return qty, inStock, nil
}

// parseQty reads an integral quantity exactly ("17", 17, 17.0, 1.7e1).
func parseQty(text string) (int64, error) {
	neg, intPart, frac, err := splitDecimal(text)
	if err == nil && strings.Trim(frac, "0") != "" {
		err = fmt.Errorf("%q is not a whole number", truncate(text, 40))
	}
	if err != nil {
		return 0, fmt.Errorf("qty: %w", err)
	}
	if neg {
		intPart = "-" + intPart
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("qty: %q is out of range", truncate(text, 40))
	}
	return n, nil
}

// flag reads the first of keys as a yes/no value in the forms EverShop and
// the spec use: true/false, 1/0, "enabled"/"disabled" and friends.
func (f dataFields) flag(keys ...string) (value, known bool, err error) {
	raw, key := f.raw(keys...)
	switch {
	case raw == nil:
		return false, false, nil
	case string(raw) == "true" || string(raw) == "false":
		return string(raw) == "true", true, nil
	}
	text, err := jsonScalarText(raw)
	if err != nil {
		return false, false, fmt.Errorf("%s: %w", key, err)
	}
	if raw[0] != '"' {
		_, intPart, frac, err := splitDecimal(text)
		if err != nil {
			return false, false, fmt.Errorf("%s: %w", key, err)
		}
		return intPart != "0" || strings.Trim(frac, "0") != "", true, nil
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true", "1", "yes", "enabled", "active", "in_stock", "instock":
		return true, true, nil
	case "false", "0", "no", "disabled", "inactive", "out_of_stock", "outofstock":
		return false, true, nil
	}
	return false, false, fmt.Errorf("%s: %q is not a yes/no value", key, truncate(text, 40))
}

// CanonicalPrice renders decimal text or a JSON number literal exactly, with
// at least two decimals and no trailing zeros beyond them: "24.9000", "24.9"
// and 24.9 all become "24.90", "3" becomes "3.00", "0.125" stays "0.125".
// It never goes through float64, so 0.1+0.2 style drift cannot creep into
// the catalog. "" stays "" (no price known).
func CanonicalPrice(text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", nil
	}
	neg, intPart, frac, err := splitDecimal(text)
	if err != nil {
		return "", err
	}
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	if neg && (strings.Trim(intPart, "0") != "" || strings.Trim(frac, "0") != "") {
		intPart = "-" + intPart
	}
	return intPart + "." + frac, nil
}

// maxDecimalExponent bounds exponents in prices: 1e400 is not a price, and a
// huge exponent would make the exact expansion huge.
const maxDecimalExponent = 40

// splitDecimal parses [+-]digits[.digits][(e|E)[+-]digits] exactly into its
// sign, integer digits (no leading zeros, at least "0") and fraction digits.
func splitDecimal(s string) (neg bool, intPart, frac string, err error) {
	bad := func() (bool, string, string, error) {
		return false, "", "", fmt.Errorf("%q is not a decimal number", truncate(s, 40))
	}
	rest := s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		neg, rest = rest[0] == '-', rest[1:]
	}
	exp := 0
	if i := strings.IndexAny(rest, "eE"); i >= 0 {
		e, perr := strconv.Atoi(rest[i+1:])
		if perr != nil || e > maxDecimalExponent || e < -maxDecimalExponent {
			return bad()
		}
		exp, rest = e, rest[:i]
	}
	intPart, frac, _ = strings.Cut(rest, ".")
	if intPart == "" && frac == "" || !isDecimalDigits(intPart) || !isDecimalDigits(frac) {
		return bad()
	}
	digits := intPart + frac
	point := len(intPart) + exp
	switch {
	case point <= 0:
		intPart, frac = "0", strings.Repeat("0", -point)+digits
	case point >= len(digits):
		intPart, frac = digits+strings.Repeat("0", point-len(digits)), ""
	default:
		intPart, frac = digits[:point], digits[point:]
	}
	if intPart = strings.TrimLeft(intPart, "0"); intPart == "" {
		intPart = "0"
	}
	return neg, intPart, frac, nil
}

func isDecimalDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
