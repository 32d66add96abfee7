package httpx

import (
	"errors"
	"fmt"
	"net/url"
)

// CheckBaseURL validates a connector's base URL (after defaults) for its
// Config.Validate. setting names it in the message, e.g.
// "inbox: BaseURL (INBOX_API_URL)".
func CheckBaseURL(setting, baseURL string) error {
	if baseURL == "" {
		return errors.New(setting + " is required")
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", setting, baseURL)
	}
	return nil
}

// SetDefault sets *v to def if it is the zero value: how connector Configs
// fill in their defaults.
func SetDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
