# The two set-up commands of README.md, and helpers for developers.
#   make run    install what is needed, build, create an instance, open msconfig
#   make test   install what is needed, build, run every test; ends with
#               the line "N passed, N failed"
BUILD ?= build
INSTANCE ?= $(CURDIR)/instance

.PHONY: all deps build run test docs install clean

all: build

deps:
	./tools/install-deps.sh

build:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

run: deps build
	./tools/run-instance.sh $(BUILD) $(INSTANCE)

test: deps
	./tests/run-all.sh

docs: build
	cp $(BUILD)/docs/options.md docs/options.md

clean:
	rm -rf $(BUILD) build-asan build-fuzz
