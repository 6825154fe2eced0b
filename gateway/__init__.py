"""``homecrew serve``: the lab's one OpenAI- and Anthropic-compatible endpoint.

Every HTTP client (editors, scripts, chat front ends, the Anthropic and OpenAI SDKs) gets
the same local-first chain as the Discord bot: the same cache, health, budgets and ledger,
each call recorded under the API key that made it. This package knows nothing of Discord;
it is assembled by :mod:`homecrew` (``homecrew serve``, or beside the bot with
``gateway.enabled``).
"""
