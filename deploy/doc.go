// Package deploy holds no code: it is the home of the operations files
// (the Grafana dashboard and its provisioning under grafana/, the Prometheus
// scrape configuration and alert rules under prometheus/, the Kubernetes
// manifests under k8s/, the local infrastructure scripts under local/) and
// of deploy_test.go, which parses those files together with the repository
// root's Dockerfile, .dockerignore and docker-compose.yml and checks them
// against the code: every metric a dashboard panel or alert names is one the
// binary exposes, every environment variable a manifest sets is a setting of
// cmd/shopstream/settings.go, every alert has a runbook, every long-running
// service has a health check.
package deploy
