"""The MLX API service of the Mac Studio node (``homecrew mlx-daemon``).

An OpenAI-compatible server on ``mlx-lm``: several models resident within a memory
budget, continuous batching per model with a bounded queue, prompt-prefix reuse,
``/health`` and Prometheus ``/metrics``. Layout: ``config`` (settings), ``protocol`` and
``errors`` (wire format), ``registry`` (models and memory), ``worker`` / ``lane`` /
``sampling`` / ``prefix_cache`` (the compute thread), ``service`` (the daemon object),
``chat`` / ``http_api`` / ``server`` (aiohttp), ``launchd`` and ``cli``.
"""
