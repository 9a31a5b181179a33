# authd tasks. Every recipe wraps a plain command (see README.md); `just` is optional.

default:
    @just --list

# Run the server on the embedded SQLite database under ./data
run:
    cargo run --release -- serve

# The whole test suite (SQLite always; PostgreSQL when AUTHD_TEST_POSTGRES_URL is set, else skipped)
test:
    cargo test --workspace

# Domain rules only: no database needed
test-domain:
    cargo test -p domain

# End-to-end with the official Python SDK (inkbox==0.2.0)
e2e:
    cargo build -p server
    AUTHD_BIN=target/debug/authd bash e2e/run.sh

# Load /docs in headless Chromium (Debian's `chromium`) and check the viewer renders the operations
docs-check:
    cargo build -p server
    AUTHD_BIN=target/debug/authd bash e2e/docs_page.sh

# Drive the operator console (/console) in headless Chromium (Debian's chromium + chromium-driver)
console-check:
    cargo build -p server
    AUTHD_BIN=target/debug/authd bash e2e/console.sh

# Refresh the screenshots of docs/CONSOLE.md
console-screenshots:
    cargo build -p server
    CONSOLE_SCREENSHOTS=docs/console AUTHD_BIN=target/debug/authd bash e2e/console.sh

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets --all-features

# What CI runs
ci:
    bash .ci/run

# Start the local PostgreSQL cluster if it is stopped
pg-up:
    pg_isready -h 127.0.0.1 -q || pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start

migrate:
    cargo run --release -- migrate

# Side-by-side benchmark against the stack's ceiling (see docs/PERFORMANCE.md)
bench:
    bash bench/run.sh
