package main

import (
	"log/slog"
	"testing"
)

func TestConsoleConfigFromEnvironment(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	log := slog.New(slog.DiscardHandler)
	c := consoleConfig(env(nil), false, log)
	if c.Addr != ":9103" || c.Development || c.Validate() == nil {
		t.Errorf("production default %+v must refuse to start without credentials", c)
	}
	c = consoleConfig(env(nil), true, log)
	if c.Addr != "127.0.0.1:9103" || c.Validate() != nil {
		t.Errorf("dev default %+v", c)
	}
	c = consoleConfig(env(map[string]string{envConsoleAddr: "127.0.0.1:7000", envConsoleToken: "0123456789abcdef0123", envConsoleUser: "ops", envConsolePassword: "pw"}), false, log)
	if c.Addr != "127.0.0.1:7000" || c.Token != "0123456789abcdef0123" || c.User != "ops" || c.Password != "pw" || c.Validate() != nil {
		t.Errorf("from the environment %+v", c)
	}
	if err := (Config{}).Validate(RoleConsole); err == nil {
		t.Error("the console role needs brokers and ClickHouse")
	}
}
