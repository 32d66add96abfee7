package deploy_test

// The secure defaults of issue 8 (docs/contract.md), checked on the files:
// compose takes every secret from the environment and refuses to start
// without it, publishes only on loopback and never Kafka or ClickHouse;
// Kubernetes exposes nothing beyond a ClusterIP Service and keeps secrets
// in the Secret; only serve holds the webhook secret.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// secretName matches the variables that hold credentials. Tokens for the
// WireMock stubs keep a stub-token default (they only reach the stubs).
var secretName = regexp.MustCompile(`(SECRET|PASSWORD|CONSOLE_TOKEN|SESSION_KEY)`)

// reInterp is one ${NAME...} interpolation of a compose file.
var reInterp = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}`)

func TestComposeSecretsFromEnvironment(t *testing.T) {
	raw := string(read(t, "docker-compose.yml"))
	required := map[string]bool{}
	for _, m := range reInterp.FindAllStringSubmatch(raw, -1) {
		name, rest := m[1], m[2]
		if !secretName.MatchString(name) {
			continue
		}
		switch {
		case rest == ":-" || rest == "-" || rest == "":
			// Optional, empty when unset (EVERSHOP_ADMIN_PASSWORD: the
			// catalog then comes from product events): no known value.
		case strings.HasPrefix(rest, ":?") && strings.TrimSpace(rest[2:]) != "":
			required[name] = true
		default:
			t.Errorf("docker-compose.yml: %s has a default; a credential is ${%s:?message} (required) or empty when unset", m[0], name)
		}
	}
	for _, want := range []string{"EVERSHOP_WEBHOOK_SECRET", "CLICKHOUSE_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "SHOPSTREAM_CONSOLE_TOKEN", "SHOPSTREAM_CONSOLE_SESSION_KEY"} {
		if !required[want] {
			t.Errorf("docker-compose.yml does not require %s from the environment", want)
		}
	}

	cf := loadCompose(t)
	for name, svc := range cf.Services {
		for k, v := range svc.env() {
			if !secretName.MatchString(k) || strings.HasPrefix(k, "EVERSHOP_ADMIN_") {
				continue
			}
			if !reInterp.MatchString(v) {
				t.Errorf("%s: %s has a literal value in docker-compose.yml; take it from the environment", name, k)
			}
		}
		if _, ok := svc.env()["EVERSHOP_WEBHOOK_SECRET"]; ok && svc.command() != "serve" {
			t.Errorf("%s (shopstream %s) is given EVERSHOP_WEBHOOK_SECRET; only serve verifies webhooks", name, svc.command())
		}
	}

	// .env.example documents every required variable, with no value.
	example := string(read(t, ".env.example"))
	names := make([]string, 0, len(required))
	for n := range required {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		re := regexp.MustCompile(`(?m)^` + n + `=(.*)$`)
		m := re.FindStringSubmatch(example)
		switch {
		case m == nil:
			t.Errorf(".env.example does not list %s", n)
		case strings.TrimSpace(m[1]) != "":
			t.Errorf(".env.example ships a value for %s; it must be empty", n)
		}
	}
	if gi, err := os.ReadFile(path(".gitignore")); err != nil || !regexp.MustCompile(`(?m)^/?\.env$`).Match(gi) {
		t.Error(".gitignore must ignore .env (it holds the secrets)")
	}
}

func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	cf := loadCompose(t)
	for name, svc := range cf.Services {
		for _, p := range svc.Ports {
			m, published := parsePort(t, name, p)
			if !published {
				// A bare container port is published on a random port of
				// every interface.
				t.Errorf("%s: port %v is published on all interfaces; write 127.0.0.1:host:container", name, p)
				continue
			}
			if m.hostIP != "127.0.0.1" && m.hostIP != "::1" && m.hostIP != "[::1]" {
				t.Errorf("%s: port %v is published on %q; publish on 127.0.0.1 only", name, p, m.hostIP)
			}
		}
	}
	for _, name := range []string{"kafka", "clickhouse"} {
		if n := len(cf.Services[name].Ports); n != 0 {
			t.Errorf("%s publishes %d ports; nothing on the host needs it (use docker compose exec)", name, n)
		}
	}
	for k, v := range cf.Services["kafka"].env() {
		if strings.HasPrefix(k, "KAFKA_") && strings.Contains(k, "LISTENERS") && strings.Contains(v, "localhost:") {
			t.Errorf("kafka: %s=%s advertises a host listener that is not published", k, v)
		}
	}
}

func TestKubernetesExposesNothingExtra(t *testing.T) {
	files, err := filepath.Glob(path("deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	forbidden := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s*hostPort:`),
		regexp.MustCompile(`(?m)^\s*hostNetwork:\s*true`),
		regexp.MustCompile(`(?m)^\s*type:\s*(NodePort|LoadBalancer)\b`),
		regexp.MustCompile(`(?m)^\s*nodePort:`),
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range forbidden {
			if loc := re.Find(b); loc != nil {
				t.Errorf("%s: %q exposes a port beyond the cluster; use a ClusterIP Service and your Ingress", filepath.Base(f), strings.TrimSpace(string(loc)))
			}
		}
	}

	objs := loadK8s(t)
	for _, o := range objs {
		where := fmt.Sprintf("%s %s/%s", o.file, o.Kind, o.Metadata.Name)
		switch o.Kind {
		case "Secret":
			for k, v := range o.StringData {
				if v != "" {
					t.Errorf("%s: %s has a value; the example must not ship usable credentials", where, k)
				}
			}
			for k := range o.Data {
				t.Errorf("%s: %s under data; the example must not ship credentials", where, k)
			}
		case "ConfigMap":
			for k := range o.Data {
				if secretName.MatchString(k) || strings.HasSuffix(k, "_TOKEN") || k == "CLICKHOUSE_DSN" {
					t.Errorf("%s: %s is a credential; it belongs in the Secret", where, k)
				}
			}
		case "Deployment", "Job":
			role := ""
			for _, c := range o.Spec.Template.Spec.Containers {
				if len(c.Args) > 0 {
					role = c.Args[0]
				}
				for _, e := range c.Env {
					credential := secretName.MatchString(e.Name) || strings.HasSuffix(e.Name, "_TOKEN") || e.Name == "CLICKHOUSE_DSN"
					if credential && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
						t.Errorf("%s: %s must come from the Secret (secretKeyRef)", where, e.Name)
					}
					if e.Name == "EVERSHOP_WEBHOOK_SECRET" && role != "serve" {
						t.Errorf("%s: shopstream %s is given EVERSHOP_WEBHOOK_SECRET; only serve verifies webhooks", where, role)
					}
				}
			}
		case "Service":
			// The raw-text check above covers type; a ClusterIP is all a
			// Service here may be.
		}
	}
}
