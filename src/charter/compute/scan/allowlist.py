"""Which pickle imports are known-safe, which are dangerous, and everything else.

Allowlist first: a global is ``safe`` only when listed here; a ``dangerous`` one (code execution,
files, network, nested deserialisation, attribute lookup by name) is a critical finding; anything
else is ``unknown``, a finding of medium severity (high when the pickle calls it), because denylists
keep being bypassed by yet another module (60+ advisories against picklescan's).

A global is judged by the name the unpickler will look up: Python 2 names are mapped as
``pickle`` maps them for protocols 0 to 2 (``__builtin__`` -> ``builtins``), and a dotted name is an
attribute walk (``Foo.bar.__globals__``), which is allowed only when listed exactly.

Why the rule-based entries are safe to *load* (not to use for anything else):

* scikit-learn classes (``sklearn.<module>.<CamelCase>``): unpickling calls ``cls.__new__`` and
  ``__setstate__``, which sklearn estimators implement as "update ``__dict__``" (``BaseEstimator``); no
  estimator does I/O or evaluates code when built or restored. Callables they hold (a
  ``FunctionTransformer``'s ``func``) are themselves globals of the pickle and judged separately.
  *Functions* are not allowed (``sklearn.utils._testing`` has one that runs Python source in a
  subprocess; ``sklearn.datasets`` downloads and writes files), except the pure metric functions of
  ``sklearn.metrics`` that scorers reference. Modules that re-export joblib (``Memory``, ``Parallel``),
  vendored code (``externals``), tests and datasets are excluded even for classes.
* Cython pickling helpers ``__pyx_unpickle_<Class>`` check a checksum and call ``Class.__new__``.
* NumPy: array reconstruction, dtypes, scalar types, random generators' state constructors and pure
  ufuncs. Not ``numpy.load`` / ``numpy.lib.format`` (they unpickle), ``_ufunc_reconstruct``
  (imports any module by name), ``numpy.f2py`` / ``numpy.testing`` / ``numpy.distutils`` (eval, exec,
  subprocess) or ``numpy.ctypeslib`` (loads libraries).
* SciPy: the sparse matrix and array classes only.
* PyTorch: what ``torch.load(weights_only=True)`` accepts for tensors (storages, dtypes,
  ``_rebuild_*``), never ``torch.load`` / ``torch.storage._load_from_bytes`` (nested loads).
"""

from __future__ import annotations

import re
from typing import Literal

Judgement = Literal["safe", "dangerous", "unknown"]

_SAFE_EXACT: dict[str, frozenset[str]] = {
    "builtins": frozenset(
        "set frozenset slice complex bytearray bytes range list dict tuple int float str bool object".split()
    ),
    "collections": frozenset({"OrderedDict", "defaultdict", "Counter", "deque"}),
    "_codecs": frozenset({"encode"}),  # how protocols 0-2 carry bytes (numpy arrays use it)
    "copyreg": frozenset({"_reconstructor", "__newobj__", "__newobj_ex__"}),  # protocols 0-2 object creation
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "numpy": frozenset({"dtype", "ndarray", "matrix"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "numpy.ma.core": frozenset({"_mareconstruct", "MaskedArray", "MaskedConstant"}),
    "numpy.matrixlib.defmatrix": frozenset({"matrix"}),
    "numpy.random._pickle": frozenset(
        {"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor", "__legacy_randomstate_ctor"}
    ),
    "numpy.random.mtrand": frozenset({"RandomState", "__RandomState_ctor"}),
    "numpy.random._generator": frozenset({"Generator"}),
    "numpy.random._mt19937": frozenset({"MT19937"}),
    "numpy.random._pcg64": frozenset({"PCG64", "PCG64DXSM"}),
    "numpy.random._philox": frozenset({"Philox"}),
    "numpy.random._sfc64": frozenset({"SFC64"}),
    "numpy.random.bit_generator": frozenset({"SeedSequence", "__pyx_unpickle_SeedSequence"}),
    # KD and ball trees pickle through ``newObj(cls) = cls.__new__(cls)``.
    "sklearn.neighbors._kd_tree": frozenset({"newObj"}),
    "sklearn.neighbors._ball_tree": frozenset({"newObj"}),
    # joblib writes arrays as this wrapper followed by raw bytes; the scanner reads them as data.
    "joblib.numpy_pickle": frozenset({"NumpyArrayWrapper"}),
    "torch._utils": frozenset(
        {
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_qtensor",
            "_rebuild_sparse_tensor",
            "_rebuild_nested_tensor",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_device_tensor_from_cpu_tensor",
        }
    ),
    "torch._tensor": frozenset({"_rebuild_from_type_v2"}),
    "torch.serialization": frozenset({"_get_layout"}),
    "torch.nn.parameter": frozenset({"Parameter"}),
    "torch.storage": frozenset({"UntypedStorage", "TypedStorage"}),
}

_TORCH_TOP = frozenset(
    {"Size", "Tensor", "device", "dtype", "layout", "memory_format", "UntypedStorage", "TypedStorage"}
    | {
        f"{kind}Storage"
        for kind in "Float Double Half BFloat16 Long Int Short Char Byte Bool ComplexFloat ComplexDouble".split()
        + "QUInt8 QInt8 QInt32 QUInt4x2 QUInt2x4".split()
    }
    | set(
        "float32 float float64 double float16 half bfloat16 complex32 complex64 cfloat complex128 cdouble "
        "uint8 int8 int16 short int32 int int64 long bool uint16 uint32 uint64 "
        "float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz qint8 quint8 qint32 quint4x2 "
        "strided sparse_coo sparse_csr contiguous_format channels_last preserve_format".split()
    )
)

_NUMPY_TYPES = frozenset(
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc intp uintp int_ uint "
    "longlong ulonglong byte ubyte short ushort half single double longdouble float16 float32 float64 "
    "float128 float_ complex64 complex128 complex256 complex_ csingle cdouble clongdouble object_ str_ "
    "bytes_ unicode_ string_ void datetime64 timedelta64 generic number integer signedinteger "
    "unsignedinteger floating complexfloating inexact flexible character".split()
)
# Pure element-wise functions (a FunctionTransformer may hold one).
_NUMPY_UFUNCS = frozenset(
    "abs absolute add arccos arccosh arcsin arcsinh arctan arctan2 arctanh cbrt ceil clip cos cosh deg2rad "
    "degrees divide exp exp2 expm1 fabs floor floor_divide fmax fmin fmod hypot isfinite isinf isnan log "
    "log10 log1p log2 logaddexp logaddexp2 maximum minimum mod multiply negative positive power rad2deg "
    "radians reciprocal remainder rint round sign sin sinh sqrt square subtract tan tanh true_divide trunc "
    "mean median sum std var".split()
)
_SCIPY_SPARSE = frozenset(
    f"{kind}_{shape}" for kind in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil") for shape in ("matrix", "array")
)

# Whole modules (and their submodules) whose every import is dangerous.
_DANGEROUS_MODULES = frozenset(
    """os posix nt subprocess sys socket ssl shutil runpy pip pkgutil importlib code codeop ctypes _ctypes
    webbrowser requests httpx urllib urllib3 http httplib ftplib smtplib telnetlib imaplib poplib nntplib
    pty pickle _pickle cPickle dill cloudpickle marshal shelve pickletools asyncio multiprocessing
    concurrent threading _thread signal pdb bdb cProfile profile pydoc timeit trace doctest venv ensurepip
    distutils setuptools site sysconfig inspect types io _io tempfile glob fileinput zipimport builtins
    __builtin__ commands _osx_support _aix_support _pyrepl idlelib lib2to3 test _posixsubprocess
    numpy.f2py numpy.testing numpy.distutils numpy.ctypeslib numpy.lib.format numpy.lib.npyio
    joblib torch.hub torch.jit torch._inductor torch._dynamo torch.fx torch.package torch.utils.cpp_extension
    torch.utils.collect_env torch.utils.bottleneck torch.utils.data torch.utils._config_module
    torch.serialization torch.distributed sklearn.externals sklearn.utils._joblib sklearn.datasets
    sklearn.utils._testing sklearn.utils._show_versions keras tensorflow tf_keras mlflow pandas.io
    transformers.dynamic_module_utils""".split()
)
# Single callables that are dangerous in otherwise harmless modules (or are listed for clarity).
_DANGEROUS_NAMES: dict[str, frozenset[str]] = {
    "functools": frozenset({"partial", "reduce", "partialmethod"}),
    "operator": frozenset({"attrgetter", "itemgetter", "methodcaller", "call"}),
    "_operator": frozenset({"attrgetter", "itemgetter", "methodcaller", "call"}),
    "copyreg": frozenset({"add_extension", "_reconstructor_ex"}),
    "logging": frozenset({"FileHandler"}),
    "logging.handlers": frozenset({"RotatingFileHandler", "TimedRotatingFileHandler", "WatchedFileHandler"}),
    "numpy": frozenset({"load", "fromfile", "save", "savez", "loadtxt", "genfromtxt"}),
    "numpy.core": frozenset({"_ufunc_reconstruct"}),
    "numpy._core": frozenset({"_ufunc_reconstruct"}),
    "torch": frozenset({"load", "save", "compile"}),
    "torch.storage": frozenset({"_load_from_bytes"}),
    "uuid": frozenset({"_get_command_stdout"}),
    "pandas": frozenset({"read_pickle", "read_csv", "read_json", "eval"}),
    "pandas.core.computation.eval": frozenset({"eval"}),
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLASS = re.compile(r"^_?[A-Z][A-Za-z0-9_]*$")
_SKLEARN_EXCLUDED_PARTS = frozenset(
    {"externals", "_joblib", "parallel", "tests", "_testing", "datasets", "_build_utils", "__check_build"}
    | {"_show_versions", "conftest", "_mocking"}
)


def _in_module(module: str, roots: frozenset[str]) -> bool:
    parts = module.split(".")
    return any(".".join(parts[:i]) in roots for i in range(1, len(parts) + 1))


def judge(module: str, name: str) -> Judgement:
    """Judge ``module``/``name`` as the unpickler resolves it (after the Python 2 mapping)."""
    if not module or not name:
        return "dangerous"
    if name in _SAFE_EXACT.get(module, ()):
        return "safe"
    parts = name.split(".")
    if any(p.startswith("__") and p.endswith("__") for p in parts) or "<locals>" in parts:
        return "dangerous"  # dunders (``__builtins__``, ``__globals__``, ``__code__``) reach eval and exec
    if _in_module(module, _DANGEROUS_MODULES) or parts[0] in _DANGEROUS_NAMES.get(module, ()):
        return "dangerous"
    if parts[0] in {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "globals", "locals"}:
        return "dangerous"  # whatever module re-exports them
    if len(parts) > 1:
        return "unknown"
    return "safe" if _rule_safe(module, name) else "unknown"


def _rule_safe(module: str, name: str) -> bool:
    if module == "torch":
        return name in _TORCH_TOP
    if module == "numpy":
        return name in _NUMPY_TYPES or name in _NUMPY_UFUNCS
    if module.startswith("sklearn.") or module == "sklearn":
        parts = module.split(".")
        if any(p in _SKLEARN_EXCLUDED_PARTS for p in parts):
            return False
        if _CLASS.match(name) or (name.startswith("__pyx_unpickle_") and _CLASS.match(name[15:])):
            return True
        return parts[1:2] == ["metrics"] and _IDENT.match(name) is not None and not name.startswith("_")
    if module == "scipy.sparse" or (module.startswith("scipy.sparse.") and module.count(".") == 2):
        return name in _SCIPY_SPARSE
    return False


def is_identifier_path(text: str) -> bool:
    """A dotted Python name: what a real import needs (used when guessing whether bytes are a pickle)."""
    return all(_IDENT.match(p) for p in text.split("."))
