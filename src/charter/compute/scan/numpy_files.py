"""NumPy ``.npy``: the header is read with ``numpy.lib.format`` (``ast.literal_eval``, no unpickling);
only an array whose dtype holds Python objects carries a pickle, which is then walked."""

from __future__ import annotations

import math
from typing import BinaryIO

import numpy as np
import numpy.lib.format as npformat

from charter.compute.scan.pickles import walk
from charter.compute.scan.report import Recorder, Unverifiable
from charter.compute.scan.streams import Source

MAGIC = b"\x93NUMPY"


def scan_npy(rec: Recorder, member: str | None, stream: BinaryIO, size: int | None) -> None:
    """``stream`` is at the start of the array file; ``size`` is the stream's end offset when known."""
    try:
        version = npformat.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(stream)
        elif version == (3, 0) and hasattr(npformat, "_read_array_header"):
            shape, _, dtype = npformat._read_array_header(stream, version)
        else:
            rec.add(member, "parse-error", "medium", f"unsupported .npy format version {version}")
            return
    except Unverifiable as exc:
        rec.failed(member, exc)
        return
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        rec.add(member, "parse-error", "medium", f"unreadable .npy header: {exc}")
        return
    seekable = stream.seekable()
    if np.dtype(dtype).hasobject:
        walk(rec, member, Source(stream, size=size if seekable else None))
        return
    if size is not None and seekable:
        expected = math.prod(shape) * np.dtype(dtype).itemsize
        if size - stream.tell() < expected:
            rec.add(member, "truncated", "medium", f"the array needs {expected:,} bytes of data; the file is shorter")
