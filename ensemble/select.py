"""`python ensemble/select.py …`: the documented entry point of the ensemble selection (ensemble/select_cli.py).

This file is named like the standard library's `select` module. Run by path, its folder heads the module
search path, so a later `import select` anywhere (pandas -> pyarrow -> socket -> selectors does one) finds
this file instead of the standard library's. Under that name it therefore loads the real `select` extension
and puts it in its own place in `sys.modules`, which the import system hands to the importer. The selection
code itself lives in modules whose names shadow nothing (ensemble/selection.py, ensemble/select_cli.py).
"""

from __future__ import annotations

import sys

if __name__ == "select":  # imported as the standard library's module: become it
    import importlib.util
    import sysconfig
    from importlib.machinery import PathFinder

    # DESTSHARED: the base interpreter's folder of extension modules (lib-dynload), also from inside a venv
    _spec = PathFinder.find_spec("select", [sysconfig.get_config_var("DESTSHARED") or ""])
    if _spec is None or _spec.loader is None:
        raise ImportError("ensemble/select.py stands in for the standard library's `select` but cannot find it")
    _real = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_real)
    sys.modules[__name__] = _real
elif __name__ == "__main__":
    from ensemble.select_cli import main

    raise SystemExit(main())
