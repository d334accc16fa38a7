"""Practice recordings: accepting an upload (format by magic bytes, a real decoder's facts, no
orphans), the recordings a caller may see, and starting their analysis."""
