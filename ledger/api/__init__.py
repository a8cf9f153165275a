"""The HTTP API: a thin door to the ledger application (`create_app` in main.py; `ledger serve`).

Layout: main (app factory, error handlers, OpenAPI), middleware (the gate: request id, size, auth,
log line), deps (typed dependencies), commanding (HTTP request -> one command), writer (group
commit), reads and routes/ (one router per resource), problems (the one error table), policy
(who reads what), tenancy (which municipality a request concerns), access_log, services (what one
process holds, with its projection follower, ledger/projections/follower.py).
"""
