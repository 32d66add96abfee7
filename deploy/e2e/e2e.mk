# End-to-end run against a real EverShop (npm) + PostgreSQL (Debian) with the
# shopstream-webhooks extension, the real Kafka, and fakes for Coze and the
# inbox. Include from the Makefile:  include deploy/e2e/e2e.mk
.PHONY: e2e e2e-stop e2e-extension-test e2e-clean

e2e: ## EverShop → extension → shopstream → Kafka → processor → fakes, asserted
	./deploy/e2e/run.sh

e2e-stop: ## stop what an `E2E_KEEP=1 make e2e` left running (never Kafka)
	./deploy/e2e/run.sh stop

e2e-extension-test: ## the extension's node --test unit tests (no database)
	cd connectors/evershop/extension && node --test test/

e2e-clean: e2e-stop ## forget the store, its build and the database cluster
	rm -rf var/e2e
