"""Encryption at rest for artifacts: a streaming AES-256-GCM envelope format and encrypted numpy arrays."""

from charter.compute.crypto.envelope import (
    DATA_KEY_BYTES,
    DEFAULT_CHUNK,
    DecryptResult,
    EncryptingReader,
    EncryptResult,
    decrypt_bytes,
    decrypt_chunks,
    decrypt_file,
    decrypt_stream,
    encrypt_bytes,
    encrypt_file,
    encrypt_stream,
    encrypted_size,
    new_data_key,
)
from charter.compute.crypto.weights import (
    decrypt_weights,
    encrypt_weights,
    load_encrypted_array,
    save_encrypted_array,
)

__all__ = [
    "DATA_KEY_BYTES",
    "DEFAULT_CHUNK",
    "DecryptResult",
    "EncryptResult",
    "EncryptingReader",
    "decrypt_bytes",
    "decrypt_chunks",
    "decrypt_file",
    "decrypt_stream",
    "decrypt_weights",
    "encrypt_bytes",
    "encrypt_file",
    "encrypt_stream",
    "encrypt_weights",
    "encrypted_size",
    "load_encrypted_array",
    "new_data_key",
    "save_encrypted_array",
]
