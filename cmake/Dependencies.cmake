# Every third-party dependency comes from a Debian package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(PostgreSQL REQUIRED)          # libpq (control plane only)
find_package(OpenSSL REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(yaml-cpp REQUIRED)          # deploy/: stack files (libyaml-cpp-dev)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(pgswarm_asio INTERFACE)
target_include_directories(pgswarm_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
# Coroutine frames from malloc, not asio's per-thread recycling: its cache
# hands a block sized for the largest frame (attachServer's) to any smaller
# one, so every idle client's suspended frames sat in oversized blocks.
# Without it an idle client holds 1.2 KiB less (6.5 -> 5.3 KiB) at the same
# instructions per transaction (docs/benchmarks.md, 2026-11-27).
target_compile_definitions(pgswarm_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED
                                                  ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING)
target_link_libraries(pgswarm_asio INTERFACE Threads::Threads)

find_path(PG_QUERY_INCLUDE_DIR pg_query.h REQUIRED)
find_library(PG_QUERY_LIBRARY pg_query REQUIRED)
add_library(pgswarm_pg_query INTERFACE)
target_include_directories(pgswarm_pg_query SYSTEM INTERFACE ${PG_QUERY_INCLUDE_DIR})
target_link_libraries(pgswarm_pg_query INTERFACE ${PG_QUERY_LIBRARY})

if(PGSWARM_TESTS)
  find_package(GTest REQUIRED)
endif()
