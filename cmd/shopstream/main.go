// Command shopstream turns EverShop's store events into reliable actions.
// main only wires: configuration, clients, components, and the signal that
// stops them; every part lives in pipeline/ and connectors/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name  Role
	usage string
	run   func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{RoleServe, "the webhook ingress: verify, validate, write to Kafka", runServe},
		{RoleTopics, "create or verify every topic with kadm", runTopics},
		{RoleProcess, "the processor group: catalog sync, notifications, retries, DLQ", runProcess},
		{RoleSink, "stream evershop.events into ClickHouse webhook_events", runSink},
		{RoleMigrate, "apply the ClickHouse DDL in schemas/clickhouse (idempotent)", runMigrate},
		{RoleDev, "everything in one process over an embedded broker (make run)", runDev},
		{RoleReplay, "put dead letters back on their original topics (filters, --dry-run)", runReplay},
		{RoleConsole, "the operations console: find events, replay dead letters, overview", runConsole},
		{RoleSign, "print the x-evershop-signature of stdin for a secret", runSign},
	}
}

func main() {
	os.Exit(mainCode())
}

// mainCode runs the command and returns the process exit code, so that its
// deferred cleanup runs before main exits.
func mainCode() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shopstream:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands() {
		if string(c.name) == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage()
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: shopstream <command> [--config file.yaml] [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(os.Stderr, "\nConfiguration comes from defaults, then --config, then the environment (see README).")
}

// commonFlags parses --config and returns the configuration role needs
// (Config.Validate) and a logger naming the command.
func commonFlags(role Role, args []string, extra func(fs *flag.FlagSet)) (Config, *slog.Logger, error) {
	name := string(role)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, fmt.Errorf("%w: %s: %w", errUsage, name, err)
	}
	if fs.NArg() > 0 {
		return Config{}, nil, fmt.Errorf("%w: %s: unexpected argument %q", errUsage, name, fs.Arg(0))
	}
	cfg, err := readConfig(*path, role)
	if err != nil {
		return Config{}, nil, err
	}
	log := newLogger(os.Stderr, stderrIsTerminal(), cfg.LogFormat, cfg.LogLevel).With("command", name)
	return cfg, log, nil
}
