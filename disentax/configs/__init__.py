"""The shipped training configs of ``disentax train --config NAME``, one file per name.

Each ``NAME.py`` here is an ``ml_collections`` config file whose ``get_config()`` returns
the run's ``ConfigDict``; its docstring gives the command, the expected time and the
expected scores. Files whose name starts with ``_`` (``_base.py``: the reference study's
set-up that every config starts from) are not configs. They ship inside the package so
that ``disentax train --config default`` works from any directory and from a wheel;
:func:`disentax.runs.configs_dir` finds this folder. Study specs that ship with the
package belong in ``studies/`` inside this folder (``configs_dir() / "studies"``).
"""
