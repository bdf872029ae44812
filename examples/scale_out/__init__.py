"""Scale out in one command: ``python -m examples.scale_out`` (see ``__main__.py``)."""
