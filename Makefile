# The two commands: `make run` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export FLASK_APP := wsgi
DEV    := BUNGKESMAS_ENV=development

.PHONY: run test lint bench translations extract-messages browser clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Compiled catalogues are build output, never committed.
translations: $(VENV)/.runtime
	$(BIN)/pybabel compile -d bungkesmas/translations

extract-messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o bungkesmas/translations/messages.pot .
	$(BIN)/pybabel update -N -i bungkesmas/translations/messages.pot -d bungkesmas/translations

# One gunicorn process (with threads): the embedded rate-limit storage (memory://) lives
# in it, so the limits count every request. Several processes need Redis (README).
run: $(VENV)/.runtime translations
	$(DEV) $(BIN)/flask database ensure
	$(DEV) $(BIN)/flask db upgrade
	$(DEV) $(BIN)/flask demo load
	$(DEV) $(BIN)/flask demo logins
	@echo "Serving on http://127.0.0.1:5000"
	$(DEV) $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 1 --worker-class gthread \
	  --threads 4 --access-logfile - wsgi:app

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev translations browser
	$(BIN)/pytest -n 2

lint: $(VENV)/.dev
	$(BIN)/ruff check bungkesmas tests config migrations wsgi.py

# Member search at 1,000,000 members and import of 100,000 rows, on SQLite and (when
# reachable, BUNGKESMAS_BENCH_PG_URL) PostgreSQL; figures to stdout and bench/results/.
# Options: make bench BENCH_ARGS="--fresh --rounds 100" (see python -m bench.run --help).
bench: $(VENV)/.dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
