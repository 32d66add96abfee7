package coze

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
)

// Defaults, chosen for the hosted API (api.coze.com) and a catalog of a few
// thousand products.
const (
	DefaultBaseURL         = "https://api.coze.com"
	DefaultFileType        = "txt"
	DefaultDocumentPrefix  = "shopstream-catalog-"
	DefaultProcessTimeout  = 5 * time.Minute
	DefaultPollInterval    = 2 * time.Second
	DefaultMaxPollInterval = 15 * time.Second
	// An upload carries the whole catalog, so a request may take a while.
	DefaultRequestTimeout  = 60 * time.Second
	DefaultMaxContentBytes = 64 << 20 // a 100,000-product catalog is about 27 MB
	DefaultListPageSize    = 100
)

// ChunkStrategy is Coze's chunk_strategy object. The zero value asks for
// automatic chunking (chunk_type 0). Coze only honours it on the first upload
// into a new knowledge base; later uploads keep the base's initial strategy.
type ChunkStrategy struct {
	ChunkType         int    `json:"chunk_type"`
	MaxTokens         int    `json:"max_tokens,omitempty"`
	Separator         string `json:"separator,omitempty"`
	RemoveExtraSpaces bool   `json:"remove_extra_spaces,omitempty"`
	RemoveURLsEmails  bool   `json:"remove_urls_emails,omitempty"`
}

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	BaseURL   string // COZE_API_URL
	Token     string // COZE_API_TOKEN, a personal access token or OAuth token
	DatasetID string // COZE_DATASET_ID, Coze's numeric knowledge base id
	// FileType is "txt" (text knowledge bases, what the hosted API documents)
	// or "csv" (table knowledge bases, where supported).
	FileType string
	// DocumentPrefix marks the documents this service owns: only documents
	// whose name starts with it are ever deleted.
	DocumentPrefix  string
	ProcessTimeout  time.Duration // how long to wait for Coze to process an upload
	PollInterval    time.Duration // first wait between status polls, doubled up to MaxPollInterval
	MaxPollInterval time.Duration
	RequestTimeout  time.Duration // per HTTP request
	MaxContentBytes int           // cap on the raw catalog size, see the package doc
	ListPageSize    int           // page size for document/list
	ChunkStrategy   ChunkStrategy
}

func (c Config) withDefaults() Config {
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	httpx.SetDefault(&c.BaseURL, DefaultBaseURL)
	httpx.SetDefault(&c.FileType, DefaultFileType)
	httpx.SetDefault(&c.DocumentPrefix, DefaultDocumentPrefix)
	httpx.SetDefault(&c.ProcessTimeout, DefaultProcessTimeout)
	httpx.SetDefault(&c.PollInterval, DefaultPollInterval)
	httpx.SetDefault(&c.MaxPollInterval, DefaultMaxPollInterval)
	httpx.SetDefault(&c.RequestTimeout, DefaultRequestTimeout)
	httpx.SetDefault(&c.MaxContentBytes, DefaultMaxContentBytes)
	httpx.SetDefault(&c.ListPageSize, DefaultListPageSize)
	if c.MaxPollInterval < c.PollInterval {
		c.MaxPollInterval = c.PollInterval
	}
	return c
}

// Validate reports every problem with the configuration (after defaults),
// naming the setting, so a bad deployment fails at start with one message.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := httpx.CheckBaseURL("coze: BaseURL (COZE_API_URL)", c.BaseURL); err != nil {
		errs = append(errs, err) // never "required": BaseURL has a default
	}
	if c.Token == "" {
		errs = append(errs, errors.New("coze: Token (COZE_API_TOKEN) is required"))
	}
	if c.DatasetID == "" {
		errs = append(errs, errors.New("coze: DatasetID (COZE_DATASET_ID) is required"))
	} else if _, err := strconv.ParseUint(c.DatasetID, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("coze: DatasetID (COZE_DATASET_ID) %q must be Coze's numeric knowledge base id", c.DatasetID))
	}
	if c.FileType != "txt" && c.FileType != "csv" {
		errs = append(errs, fmt.Errorf("coze: FileType %q must be txt or csv", c.FileType))
	}
	if c.ProcessTimeout < 0 || c.PollInterval < 0 || c.MaxPollInterval < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("coze: ProcessTimeout, PollInterval, MaxPollInterval and RequestTimeout must not be negative"))
	}
	if c.MaxContentBytes < 0 || c.ListPageSize < 0 {
		errs = append(errs, errors.New("coze: MaxContentBytes and ListPageSize must not be negative"))
	}
	if cs := c.ChunkStrategy; cs.ChunkType == 1 && (cs.MaxTokens < 100 || cs.MaxTokens > 2000 || cs.Separator == "") {
		errs = append(errs, errors.New("coze: a custom ChunkStrategy needs MaxTokens in 100..2000 and a Separator"))
	} else if cs.ChunkType != 0 && cs.ChunkType != 1 {
		errs = append(errs, fmt.Errorf("coze: ChunkStrategy.ChunkType %d must be 0 (automatic) or 1 (custom)", cs.ChunkType))
	}
	return errors.Join(errs...)
}
