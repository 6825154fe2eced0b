"""The local-first inference chain; knows nothing of Discord or the agent team.

Entry point: :class:`inference.runtime.InferenceStack` (``async with
InferenceStack.open(settings) as stack: async for event in stack.stream(request)``), with
the request and event types in :mod:`inference.types` and errors in
:mod:`inference.errors`. The call path is a stack of layers, one module each: ``cache``
(responses), ``chain`` (route order, first-token commit), ``budget`` (cloud limits),
``health`` + ``probes`` (circuit breaker), ``metering`` + ``ledger`` + ``outbox`` (spend
records, on local disk first), ``deadlines`` (time limits) and ``_litellm`` (the only
LiteLLM import). ``config`` and ``configfile`` read ``homecrew.yaml``; ``store`` is the
SQLite/PostgreSQL layer shared with the team engine; ``report`` builds spend reports;
``importer`` reads LiteLLM proxy configs; ``tokens`` estimates tokens (the team's context
budgets, the gateway's token counting).
Submodules are imported explicitly so that light users (e.g. config validation) stay light.
"""
