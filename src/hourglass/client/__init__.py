"""The client side of `hourglass`: an HTTP client of the public API and what the client
commands do with it (connection and config, workflows, jobs, logs, search, downloads).

It imports nothing of the server side (web, services, store, runtime, domain): the CLI is a
client of the HTTP contract in docs/api.md like any other, and import-linter holds it to that.
Everything here is synchronous: one command makes a few requests or reads one stream in order,
so an event loop would only add start-up time.
"""
