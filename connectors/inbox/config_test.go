package inbox

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{BaseURL: "http://inbox:3000", Token: "t"}, ""},
		{"base url required", Config{Token: "t"}, "BaseURL (INBOX_API_URL) is required"},
		{"base url scheme", Config{BaseURL: "inbox:3000", Token: "t"}, "not an http(s) URL"},
		{"token required", Config{BaseURL: "http://inbox"}, "Token (INBOX_API_TOKEN)"},
		{"negative timeout", Config{BaseURL: "http://inbox", Token: "t", Timeout: -1}, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if d := (Config{BaseURL: "http://x/"}).withDefaults(); d.Tenant != "default" || d.Timeout != DefaultTimeout || d.BaseURL != "http://x" {
		t.Errorf("defaults: %+v", d)
	}
}
