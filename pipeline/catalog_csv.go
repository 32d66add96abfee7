package pipeline

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
)

// CatalogCSVHeader is the header row of the catalog document. Its column
// names are what the knowledge base (and anyone reading the file) sees.
var CatalogCSVHeader = []string{"id", "sku", "name", "price", "currency", "qty", "in_stock", "status", "url", "description"}

// CatalogCSV streams products as RFC 4180 CSV (CRLF line endings, fields
// with commas, quotes or line breaks quoted, quotes doubled) while hashing
// every byte it emits. Streaming keeps a full-catalog regeneration at a
// constant memory cost however large the catalog; the hash names the
// document, so an unchanged catalog is recognised without keeping the
// previous one around.
//
// The header row is written when the CatalogCSV is created, so an empty
// catalog is still a valid document. A CatalogCSV is not safe for
// concurrent use.
type CatalogCSV struct {
	csv    *csv.Writer
	hash   hash.Hash
	record [10]string // reused for every row: no per-row slice
	rows   int
	err    error
}

// NewCatalogCSV starts a catalog document on w. Errors from w surface from
// Write or Close.
func NewCatalogCSV(w io.Writer) *CatalogCSV {
	h := sha256.New()
	cw := csv.NewWriter(io.MultiWriter(w, h))
	cw.UseCRLF = true
	c := &CatalogCSV{csv: cw, hash: h}
	c.err = cw.Write(CatalogCSVHeader)
	return c
}

// Write appends one product row. in_stock renders as true/false.
func (c *CatalogCSV) Write(p Product) error {
	if c.err != nil {
		return c.err
	}
	r := &c.record
	r[0], r[1], r[2], r[3], r[4] = p.ID, p.SKU, p.Name, p.Price, p.Currency
	r[5] = strconv.FormatInt(p.Qty, 10)
	r[6] = strconv.FormatBool(p.InStock)
	r[7], r[8], r[9] = p.Status, p.URL, p.Description
	if c.err = c.csv.Write(r[:]); c.err != nil {
		return c.err
	}
	c.rows++
	return nil
}

// Close flushes buffered rows to the writer. It does not close the writer,
// which belongs to the caller.
func (c *CatalogCSV) Close() error {
	c.flush()
	return c.err
}

// Sum is the hex SHA-256 of every byte of the document so far. It flushes
// first, so the hash always covers all rows written, and is the content
// hash after Close.
func (c *CatalogCSV) Sum() string {
	c.flush()
	return hex.EncodeToString(c.hash.Sum(nil))
}

// Rows is the number of product rows written, header excluded.
func (c *CatalogCSV) Rows() int { return c.rows }

func (c *CatalogCSV) flush() {
	c.csv.Flush()
	if err := c.csv.Error(); err != nil && c.err == nil {
		c.err = err
	}
}
