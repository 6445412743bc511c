# The two commands of the README. Each sets up .venv on first use.
PYTHON ?= python3

.PHONY: demo test install

install: .venv/bin/outreach

.venv/bin/outreach: pyproject.toml
	test -x .venv/bin/python || $(PYTHON) -m venv .venv
	.venv/bin/python -m pip install --quiet --upgrade pip
	.venv/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	.venv/bin/outreach demo

test:
	scripts/test
