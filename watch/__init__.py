"""Chief's watch: scheduled health checks, incidents and RED ALERTs, budget warnings, the
daily spend report, Prometheus metrics and the data behind the deployment gate.

Discord-free: the bot supplies a :class:`watch.poster.Poster` and runs
:class:`watch.engine.Watch` on its event loop. Import from the submodules
(``watch.engine``, ``watch.gate``, ``watch.poster``, ``watch.messages``,
``watch.settings``…); this module stays empty on purpose, as ``homecrew.settings`` imports
``watch.settings`` for every command.
"""

__all__: list[str] = []
