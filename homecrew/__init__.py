"""The application shell: the one settings object (:mod:`homecrew.settings`) and the
``homecrew`` command line (:mod:`homecrew.cli`, one module per command group under
:mod:`homecrew.commands`)."""
