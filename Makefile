# Snacktopus — every target a user expects (see README). Runtime binaries live in the
# version-keyed cache $(CACHE), Python deps in .venv from uv.lock.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/snacktopus
export SNACKTOPUS_CACHE := $(CACHE)
export PATH := $(CACHE)/bin:$(PATH)
export UV_PYTHON ?= $(CACHE)/bin/python3.13
export UV_LINK_MODE ?= copy
UV := $(CACHE)/bin/uv
PY := .venv/bin/python
STACK := $(PY) tools/devstack.py
PYTEST_ARGS ?=

.PHONY: help dev deps runtime browser up up-test down status logs run-agent run-workflow demo \
        test test-unit test-integration test-e2e eval lint fmt versions clean fuzz approver-token load bench park-repro bench-retention test-static test-images base-images images helm-lint \
        kind-node-image kind-images kind-up kind-down kind-status helm-install helm-uninstall test-k8s \
        bench-k8s-scaling

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

dev: runtime browser deps ## install everything: pinned runtime components, browser, Python deps

runtime: ## build/fetch daprd, placement, scheduler, dapr CLI, Ollama + model, Zipkin, Redis (cached)
	runtime/install.sh all

browser: ## Debian's chromium + chromium-driver for the console's browser tests (tests/e2e)
	runtime/install.sh browser

$(UV):
	runtime/install.sh uv

deps: $(UV) ## Python deps from uv.lock into .venv
	$(UV) sync --frozen

up: ## start the local stack (Redis, Zipkin, Ollama, placement, scheduler, apps + sidecars)
	$(STACK) up

up-test: ## start the stack with the test profile (short timeouts, event-probe sidecar)
	$(STACK) up --profile test

down: ## stop exactly what `make up` started
	$(STACK) down

status: ## what the stack runs
	$(STACK) status

logs: ## tail every program's log (make logs P=agent for one)
	$(STACK) logs $(P)

run-agent: ## restart agent-shell under its sidecar (stack must be up)
	$(STACK) restart agent

run-workflow: ## restart workflow-host under its sidecar (stack must be up)
	$(STACK) restart workflow

demo: dev ## a whole order end to end, printed as it goes (starts and stops the stack)
	$(PY) tools/demo.py

lint: deps ## ruff lint + format check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

fmt: deps
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

test-unit: deps
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: dev
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test: dev lint ## lint, unit, static, integration, browser (e2e) and image tests (starts what it needs, stops it after)
	$(PY) -m pytest tests/unit tests/static tests/integration tests/e2e tests/images $(PYTEST_ARGS)

test-e2e: dev ## the console in headless Chromium against the local stack (screenshots: tests/e2e/artifacts/)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

test-static: deps ## chart and Dockerfile checks, no cluster or stack needed
	$(PY) -m pytest tests/static $(PYTEST_ARGS)

test-images: dev ## the app images beside the local stack (needs a Docker engine)
	$(PY) -m pytest tests/images $(PYTEST_ARGS)

base-images: ## the air-gapped Python 3.13 base from Debian trixie (debootstrap, docker import)
	runtime/images/base-image.sh

images: ## build both app images (public base when pullable, else the air-gapped one)
	runtime/images/build.sh

helm-lint: ## helm lint + template of every values profile
	@for p in default kind kind-airgap production; do f=; [ $$p = default ] || f="-f charts/snacktopus/values-$$p.yaml"; \
	  helm lint --strict --kube-version 1.34.4 charts/snacktopus $$f >/dev/null 2>&1 && echo "ok $$p" || { helm lint --strict --kube-version 1.34.4 charts/snacktopus $$f; exit 1; }; done

DRILLS := redis-kill ollama-offline approval-lag compensation-loop kill-workflow kill-sidecar kill-agent
drill-%: ## run one fault drill (make drill-redis-kill, drill-ollama-offline, drill-approval-lag, ...)
	@case " $(DRILLS) " in *" $* "*) ;; *) echo "unknown drill '$*' (one of: $(DRILLS))"; exit 2;; esac
	$(PY) tools/drills.py $*

load: dev ## Locust scenario on the local stack (USERS=6 RATE=1 DURATION=180; bounded, loopback) -> loadtest/results/load-*/
	$(PY) loadtest/run_load.py --users $(or $(USERS),6) --spawn-rate $(or $(RATE),1) --duration $(or $(DURATION),180)

bench: dev ## snacktopus vs bare Dapr workflow, /ask vs bare DurableAgent and plain converse (echo LLM), raw model -> loadtest/results/bench-*.json
	$(PY) loadtest/bench.py

park-repro: dev ## daprd's one-second park: a bare fan-out/fan-in workflow, count of parked runs -> loadtest/results/park-*.json
	$(PY) loadtest/park_repro.py $(if $(DAPRD),--daprd $(DAPRD))

bench-retention: dev ## Redis memory per 1,000 finished orders and 1,000 asks, with and without retention -> loadtest/results/retention-*.json
	$(PY) loadtest/retention_bench.py

eval: dev ## the concierge's eval set against the stack (starts and stops it if none runs) -> evals/results/
	$(PY) tools/eval.py $(EVAL_ARGS)

fuzz: deps ## schemathesis over both OpenAPI specs against the running stack (zero 5xx, zero lost state)
	$(PY) tools/fuzz.py

approver-token: ## print a local approver's token (make approver-token NAME=alice)
	@$(PY) -c "import sys; from tools.stack_settings import StackSettings as S; t = S().approver_token('$(NAME)'); print(t) if t else sys.exit('no token for approver \'$(NAME)\' (is APPROVERS set and the stack up?)')"

versions: ## what the installed runtime reports
	runtime/install.sh versions

clean: ## remove the run folder (stack must be down)
	@if [ -f .run/supervisord.pid ] && $(STACK) status >/dev/null 2>&1; then echo "stack is running: make down first"; exit 1; fi
	rm -rf .run

# ---------------------------------------------------------------- live Kubernetes (kind)
kind-node-image: ## build the kind node image (Kubernetes v1.34.4, runtime/versions.env) from Go modules, cached
	runtime/kube/node-image.sh

kind-images: ## the Dapr control-plane and stack images for the cluster (cached)
	runtime/kube/images.sh dapr
	runtime/kube/images.sh stack

kind-up: ## an air-gapped kind cluster with Dapr's control plane (reuses a running one)
	runtime/kube/cluster.sh up

kind-down: ## delete the kind cluster kind-up made
	runtime/kube/cluster.sh down

kind-status: ## nodes, pods and Helm releases of the kind cluster
	runtime/kube/cluster.sh status

helm-install: ## install or upgrade our chart in the kind cluster (air-gapped values)
	runtime/kube/cluster.sh install

helm-uninstall: ## uninstall our chart and show what is left
	runtime/kube/cluster.sh uninstall

test-k8s: deps ## tests against the live kind cluster (fails plainly when none is reachable)
	SNACKTOPUS_K8S_REQUIRED=1 $(PY) -m pytest tests/k8s $(PYTEST_ARGS)

bench-k8s-scaling: deps ## runs/s with 1 and 2 replicas per app in the kind cluster (echo model) -> loadtest/results/k8s-scaling-*.json
	$(PY) loadtest/k8s_scaling.py
