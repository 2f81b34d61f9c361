# The README's two commands: `make demo` (a ViMo-Synth clip played into the running reaction node, embedded default
# model) and `make test` (the test suite).
# Both run scripts/setup.sh first, which creates .venv on a fresh clone and returns at once when it is up to date.
SHELL := /bin/bash
PY := .venv/bin/python
ROS_ENV := . scripts/ros_env.sh

.PHONY: setup demo test
setup:
	@bash scripts/setup.sh

demo: setup
	@$(ROS_ENV) && $(PY) -m hero_ros.demo --out out/demo

test: setup
	@$(ROS_ENV) && $(PY) -m pytest -q -p no:cacheprovider
