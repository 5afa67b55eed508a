"""The one place that knows the MsgFlash API, split by job:

- :mod:`.defaults`: the API's fixed figures and the connection's defaults;
- :mod:`.routes`: routes and :class:`~.routes.Call` (a request ready to send);
- :mod:`.settings`: connection settings, checked before anything is sent;
- :mod:`.answers`: the ``{"data"}``/``{"error"}`` envelope and the error-code → exception mapping;
- :mod:`.retry`: what may be sent again, and when;
- :mod:`.lookups`: lookup knowledge beyond single routes (timestamps, matching, results);
- :mod:`.shapes`: defensive readers of what the docs do not show (lists, result items, counts, health
  fields), listed in ``docs/api-assumptions.md``.

The sync hook (requests + tenacity) and the async hook (aiohttp) both use these; neither knows a route
or an error code of its own. This package imports nothing on its own: import its modules.
"""
