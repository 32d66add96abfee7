package main

import (
	"errors"
	"fmt"
)

// Role is a subcommand of shopstream: what it runs decides which settings
// it needs.
type Role string

// The roles, named like their subcommands.
const (
	RoleServe   Role = "serve"
	RoleProcess Role = "process"
	RoleSink    Role = "sink"
	RoleDev     Role = "dev"
	RoleTopics  Role = "topics"
	RoleMigrate Role = "migrate"
	RoleReplay  Role = "replay"
	RoleSign    Role = "sign"
	RoleConsole Role = "console"
)

// requirement is one check of a parsed Config; its error is a ConfigError
// naming the key to set.
type requirement func(c Config, role Role) error

// roleNeeds is what each role requires beyond what parseConfig checks for
// every role (types, ranges, consistency). A new subcommand adds its line.
var roleNeeds = map[Role][]requirement{
	RoleServe:   {needBrokers, needSecret},
	RoleProcess: {needBrokers, needInbox, needCatalogTarget, needIntegrationsComplete},
	RoleSink:    {needBrokers, needClickHouse},
	// dev starts an embedded broker and generates a secret when none is
	// set, writes notifications and the catalog to files, and runs without
	// the sink when ClickHouse is missing.
	RoleDev:     {needIntegrationsComplete},
	RoleTopics:  {needBrokers},
	RoleMigrate: {needClickHouse},
	RoleReplay:  {needBrokers},
	RoleSign:    {needSecret},
	RoleConsole: {needBrokers, needClickHouse, needConsoleSessionKey},
}

// Validate reports the first setting role needs that c lacks, as a
// *ConfigError naming the key.
func (c Config) Validate(role Role) error {
	needs, ok := roleNeeds[role]
	if !ok {
		return fmt.Errorf("config: no requirements known for role %q", role)
	}
	for _, need := range needs {
		if err := need(c, role); err != nil {
			return err
		}
	}
	return nil
}

func needBrokers(c Config, role Role) error {
	if len(c.KafkaBrokers) == 0 {
		return configErr("kafka.brokers", fmt.Errorf("is required for shopstream %s (host:port, comma-separated)", role))
	}
	return nil
}

// needSecret: only the ingress (and sign) need the webhook secret; the
// processor, sink and tools do not.
func needSecret(c Config, role Role) error {
	if len(c.Secrets) == 0 {
		return configErr("webhook.secret", fmt.Errorf("is required for shopstream %s", role))
	}
	return nil
}

func needClickHouse(c Config, role Role) error {
	if c.ClickHouseDSN == "" {
		return configErr("clickhouse.dsn", fmt.Errorf("is required for shopstream %s", role))
	}
	return nil
}

func needInbox(c Config, role Role) error {
	if c.InboxURL == "" {
		return configErr("inbox.api_url", fmt.Errorf("is required for shopstream %s", role))
	}
	return nil
}

// needCatalogTarget: with catalog sync on, the processor publishes to Coze.
func needCatalogTarget(c Config, role Role) error {
	if c.CatalogAutoSync && c.CozeToken == "" {
		return configErr("coze.api_token", fmt.Errorf("is required for shopstream %s (or set WEBHOOK_AUTO_SYNC_PRODUCTS=false)", role))
	}
	return nil
}

// needIntegrationsComplete: an outside system that is configured at all is
// configured completely.
func needIntegrationsComplete(c Config, _ Role) error {
	switch {
	case c.CozeToken != "" && c.CozeDatasetID == "":
		return configErr("coze.dataset_id", errors.New("is required when COZE_API_TOKEN is set"))
	case c.InboxURL != "" && c.InboxToken == "":
		return configErr("inbox.api_token", errors.New("is required when INBOX_API_URL is set"))
	case c.EverShopURL != "" && (c.EverShopEmail == "" || c.EverShopPassword == ""):
		return configErr("evershop.admin_email", errors.New("EVERSHOP_ADMIN_EMAIL and EVERSHOP_ADMIN_PASSWORD are required when EVERSHOP_API_URL is set"))
	}
	return nil
}

// configErr is a *ConfigError for key, with its environment name.
func configErr(key string, err error) error {
	p := parser{}
	p.fail(key, err)
	return p.err
}

// needConsoleSessionKey: console replicas share signed session cookies,
// so they need one key of 32+ characters (development makes up its own,
// as console.Config.Validate allows).
func needConsoleSessionKey(c Config, role Role) error {
	switch {
	case c.ConsoleSessionKey == "" && c.Development:
		return nil
	case c.ConsoleSessionKey == "":
		return configErr("console.session_key", fmt.Errorf("is required for shopstream %s (32+ characters, the same on every replica)", role))
	case len(c.ConsoleSessionKey) < 32:
		return configErr("console.session_key", errors.New("must be at least 32 characters"))
	}
	return nil
}
