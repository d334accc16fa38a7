"""Performance analysis of a recording: the dimension catalogue, the result shape, and the
analysers that fill it (`local` signal analysis, `http` external model service)."""
