package coze

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Token: "pat", DatasetID: "7301234567890123456"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"csv is allowed", func(c *Config) { c.FileType = "csv" }, ""},
		{"token required", func(c *Config) { c.Token = "" }, "Token (COZE_API_TOKEN)"},
		{"dataset required", func(c *Config) { c.DatasetID = "" }, "DatasetID (COZE_DATASET_ID) is required"},
		{"dataset numeric", func(c *Config) { c.DatasetID = "kb-1" }, "numeric"},
		{"file type", func(c *Config) { c.FileType = "pdf" }, "txt or csv"},
		{"base url", func(c *Config) { c.BaseURL = "api.coze.com" }, "BaseURL"},
		{"negative duration", func(c *Config) { c.PollInterval = -1 }, "negative"},
		{"custom chunking needs a separator", func(c *Config) { c.ChunkStrategy = ChunkStrategy{ChunkType: 1, MaxTokens: 800} }, "Separator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	if d := ok.withDefaults(); d.BaseURL != DefaultBaseURL || d.FileType != "txt" || d.DocumentPrefix != "shopstream-catalog-" || d.ProcessTimeout != DefaultProcessTimeout {
		t.Errorf("defaults not applied: %+v", d)
	}
}
