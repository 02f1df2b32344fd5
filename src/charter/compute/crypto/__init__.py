"""Cryptography for artifacts, one module per concern (import the one you need):

- ``envelope``: the streaming AES-256-GCM envelope format (encryption at rest);
- ``weights``: NumPy arrays encrypted with their dtype, shape and order (imports NumPy);
- ``signing``: OpenSSF model signing and verification of model folders and manifests.

Nothing is re-exported here, so that importing one (``signing``, in every CLI process) does not
import the others' dependencies: NumPy starts BLAS threads when it is imported.
"""
