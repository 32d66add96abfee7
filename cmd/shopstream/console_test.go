package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestConsoleConfigFromEnvironment(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		role    Role
		environ []string
		addr    string
		ok      bool
	}{
		{RoleConsole, nil, ":9103", false}, // production refuses to start without credentials
		{RoleDev, nil, "127.0.0.1:9103", true},
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_ADDR=127.0.0.1:7000", "SHOPSTREAM_CONSOLE_TOKEN=0123456789abcdef0123", "SHOPSTREAM_CONSOLE_SESSION_KEY=0123456789abcdef0123456789abcdef"}, "127.0.0.1:7000", true},
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_USER=ops", "SHOPSTREAM_CONSOLE_PASSWORD=pw", "SHOPSTREAM_CONSOLE_SESSION_KEY=0123456789abcdef0123456789abcdef"}, ":9103", true},
		// Outside development sessions need the signing key.
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_TOKEN=0123456789abcdef0123"}, ":9103", false},
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_TOKEN=0123456789abcdef0123", "SHOPSTREAM_CONSOLE_SESSION_KEY=short"}, ":9103", false},
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_USER=ops"}, ":9103", false},
		// Development alone does not open the console to every interface.
		{RoleConsole, []string{"SHOPSTREAM_ENV=development"}, ":9103", false},
		{RoleConsole, []string{"SHOPSTREAM_ENV=development", "SHOPSTREAM_CONSOLE_ADDR=127.0.0.1:9103"}, "127.0.0.1:9103", true},
		{RoleConsole, []string{"SHOPSTREAM_ENV=development", "SHOPSTREAM_CONSOLE_ADDR=[::1]:9103"}, "[::1]:9103", true},
		{RoleDev, []string{"SHOPSTREAM_CONSOLE_ADDR=0.0.0.0:9103"}, "0.0.0.0:9103", false},
		{RoleDev, []string{"SHOPSTREAM_CONSOLE_ADDR=0.0.0.0:9103", "SHOPSTREAM_CONSOLE_TOKEN=0123456789abcdef0123"}, "0.0.0.0:9103", true},
	} {
		k, err := loadConfigFor("", tc.environ, tc.role == RoleDev)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := parseConfig(k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Development = cfg.Development || tc.role == RoleDev // dev sets it whatever SHOPSTREAM_ENV says
		c := consoleConfig(cfg, log)
		if c.Addr != tc.addr || (c.Validate() == nil) != tc.ok {
			t.Errorf("%s %v: %+v, valid %v", tc.role, tc.environ, c, c.Validate())
		}
	}
	if err := (Config{}).Validate(RoleConsole); err == nil {
		t.Error("the console role needs brokers and ClickHouse")
	}
	full := Config{KafkaBrokers: []string{"b:9092"}, ClickHouseDSN: "clickhouse://c:9000/default"}
	var ce *ConfigError
	if err := full.Validate(RoleConsole); !errors.As(err, &ce) || ce.Env != "SHOPSTREAM_CONSOLE_SESSION_KEY" {
		t.Errorf("console without a session key: %v", err)
	}
	full.ConsoleSessionKey = "too-short"
	if err := full.Validate(RoleConsole); !errors.As(err, &ce) || ce.Env != "SHOPSTREAM_CONSOLE_SESSION_KEY" {
		t.Errorf("console with a short session key: %v", err)
	}
	full.ConsoleSessionKey = strings.Repeat("k", 32)
	if err := full.Validate(RoleConsole); err != nil {
		t.Errorf("console with a session key: %v", err)
	}
	full.ConsoleSessionKey, full.Development = "", true
	if err := full.Validate(RoleConsole); err != nil {
		t.Errorf("development console without a session key: %v", err)
	}
}
