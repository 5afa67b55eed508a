"""What the provider knows of the MsgFlash API besides its routes (each a method of
:mod:`airflow_provider_msgflash.hooks.msgflash`): :mod:`.defaults` (fixed figures, no imports), :mod:`.answers`
(envelope, errors, transport failures, retries), :mod:`.types` (the answers as types) and :mod:`.shapes` (defensive
readers of what the docs do not show, listed in ``docs/api-assumptions.md``). Import its modules."""
