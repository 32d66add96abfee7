package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

func TestLoggerFormat(t *testing.T) {
	cases := []struct {
		name     string
		format   string
		terminal bool
		json     bool
	}{
		{"auto on a terminal is text", logFormatAuto, true, false},
		{"auto elsewhere is JSON", logFormatAuto, false, true},
		{"text when asked", logFormatText, false, false},
		{"json when asked, even on a terminal", logFormatJSON, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			newLogger(&buf, c.terminal, c.format, slog.LevelInfo).Info("hello", "k", "v")
			isJSON := json.Valid(bytes.TrimSpace(buf.Bytes()))
			if isJSON != c.json || !strings.Contains(buf.String(), "hello") {
				t.Fatalf("output %q, want JSON %v", buf.String(), c.json)
			}
		})
	}
}

// TestLibraryLogsAtWarn checks the franz-go path end to end: kslog asks the
// handler for its level, so a kafka-component logger reports warn (franz-go
// then skips building its info and debug lines at all) unless the level is
// debug; other components keep the configured level.
func TestLibraryLogsAtWarn(t *testing.T) {
	cases := []struct {
		level   slog.Level
		kgo     kgo.LogLevel
		appInfo bool
	}{
		{slog.LevelInfo, kgo.LogLevelWarn, true},
		{slog.LevelWarn, kgo.LogLevelWarn, false},
		{slog.LevelError, kgo.LogLevelError, false},
		{slog.LevelDebug, kgo.LogLevelDebug, true},
	}
	for _, c := range cases {
		t.Run(c.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, false, logFormatJSON, c.level).With("command", "serve")
			kl := kslog.New(log.With("component", "kafka", "role", "ingress"))
			if got := kl.Level(); got != c.kgo {
				t.Fatalf("franz-go level = %v, want %v", got, c.kgo)
			}
			kl.Log(kgo.LogLevelInfo, "metadata refreshed")
			if strings.Contains(buf.String(), "metadata refreshed") != (c.level == slog.LevelDebug) {
				t.Fatalf("library info line written = %v at %v: %q", c.level != slog.LevelDebug, c.level, buf.String())
			}
			kl.Log(kgo.LogLevelWarn, "broker unreachable")
			if c.level <= slog.LevelWarn && !strings.Contains(buf.String(), "broker unreachable") {
				t.Fatalf("library warning dropped at %v", c.level)
			}
			if got := log.With("component", "ingress").Enabled(t.Context(), slog.LevelInfo); got != c.appInfo {
				t.Fatalf("application info enabled = %v at %v", got, c.level)
			}
		})
	}
}

func TestLogFormatSetting(t *testing.T) {
	for _, f := range []string{"auto", "text", "JSON"} {
		k, err := loadConfig("", []string{"SHOPSTREAM_LOG_FORMAT=" + f, "SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := parseConfig(k)
		if err != nil || cfg.LogFormat != strings.ToLower(f) {
			t.Fatalf("%s: format %q, %v", f, cfg.LogFormat, err)
		}
	}
	k, err := loadConfig("", []string{"SHOPSTREAM_LOG_FORMAT=yaml", "SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseConfig(k)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Env != "SHOPSTREAM_LOG_FORMAT" || !strings.Contains(err.Error(), "SHOPSTREAM_LOG_FORMAT") || !strings.Contains(err.Error(), "yaml") {
		t.Fatalf("err = %v, want a ConfigError naming SHOPSTREAM_LOG_FORMAT", err)
	}
}

// TestDevListensOnLoopback: dev serves the unsigned test endpoint, so its
// default addresses are loopback; an explicit address still wins, and the
// other roles keep listening on every interface (they sit behind a
// container or a Service).
func TestDevListensOnLoopback(t *testing.T) {
	cases := []struct {
		name            string
		dev             bool
		env             []string
		wantHTTP, admin string
	}{
		{"dev default", true, nil, "127.0.0.1:8080", "127.0.0.1:9102"},
		{"dev told otherwise", true, []string{"SHOPSTREAM_HTTP_ADDR=:8080", "SHOPSTREAM_ADMIN_ADDR=0.0.0.0:9102"}, ":8080", "0.0.0.0:9102"},
		{"serve default", false, []string{"SHOPSTREAM_KAFKA_BROKERS=127.0.0.1:9092"}, ":8080", ":9102"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := loadConfigFor("", c.env, c.dev)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := parseConfig(k)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTPAddr != c.wantHTTP || cfg.AdminAddr != c.admin {
				t.Fatalf("addrs %s %s, want %s %s", cfg.HTTPAddr, cfg.AdminAddr, c.wantHTTP, c.admin)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
