# Front end for the usual jobs; CMake presets do the real work.
#   make        build build/pgswarm (release)
#   make release-pgo  build-pgo/pgswarm: release with profile-guided optimization
#   make up     install what is missing, build, start a local cluster
#   make test   install what is missing, build with ASan+UBSan, run every test
#   make fuzz-smoke   build the libFuzzer targets (clang), fuzz each for 15 s
#   make down / make status   stop / show the local cluster
SHELL := /bin/bash
UP_ARGS ?=
# postgres never runs as root, so as root the cluster's folder must be
# reachable by the unprivileged postgres user; scripts/cluster-dir.sh picks
# ./pgswarm-data when it is, /var/lib/pgswarm/local otherwise.
CLUSTER_DIR = $(shell ./scripts/cluster-dir.sh)

.PHONY: all deps release release-pgo debug test fuzz-smoke up down status format tidy clean

all: release

deps:
	./scripts/install-deps.sh

release:
	cmake --preset release >/dev/null
	cmake --build --preset release

# Trains on a throwaway PostgreSQL with pgbench (scripts/pgo-build.sh).
release-pgo: deps
	./scripts/pgo-build.sh

debug:
	cmake --preset debug >/dev/null
	cmake --build --preset debug

up: deps release
	./build/pgswarm up --dir "$(CLUSTER_DIR)" $(UP_ARGS)

down:
	./build/pgswarm down --dir "$(CLUSTER_DIR)"

status:
	./build/pgswarm status --dir "$(CLUSTER_DIR)"

test: deps debug
	ctest --preset debug

fuzz-smoke: deps
	./scripts/fuzz-smoke.sh

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

# Debian 12's clang-tidy (clang 14) parses with libstdc++'s <coroutine>, but
# asio looks for <experimental/coroutine> on clang and would leave out
# asio::awaitable: tell it that C++20 coroutines are there.
TIDY_ARGS = --extra-arg=-DASIO_HAS_CO_AWAIT=1 --extra-arg=-DASIO_HAS_STD_COROUTINE=1
tidy: release
	git ls-files 'src/*.cpp' | xargs clang-tidy -p build --quiet $(TIDY_ARGS)

clean:
	rm -rf build build-debug build-fuzz build-pgo
