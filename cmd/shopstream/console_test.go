package main

import (
	"log/slog"
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
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_ADDR=127.0.0.1:7000", "SHOPSTREAM_CONSOLE_TOKEN=0123456789abcdef0123"}, "127.0.0.1:7000", true},
		{RoleConsole, []string{"SHOPSTREAM_CONSOLE_USER=ops", "SHOPSTREAM_CONSOLE_PASSWORD=pw"}, ":9103", true},
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
}
