"""The x-amz-checksum-* values S3 defines, computed in Python (botocore
needs awscrt for CRC32C and CRC64NVME, which the pinned tools lack)."""

import base64
import hashlib
import zlib


def _table(poly, width):
    mask = (1 << width) - 1
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & mask)
    return table


_CRC32C = _table(0x82F63B78, 32)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5, 64)


def _reflected(data, table, width):
    mask = (1 << width) - 1
    crc = mask
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def crc32c_int(data):
    return _reflected(data, _CRC32C, 32)


def crc64nvme_int(data):
    return _reflected(data, _CRC64NVME, 64)


def b64(value, nbytes):
    return base64.b64encode(value.to_bytes(nbytes, "big")).decode()


def crc32(data):
    return b64(zlib.crc32(data), 4)


def crc32c(data):
    return b64(crc32c_int(data), 4)


def crc64nvme(data):
    return b64(crc64nvme_int(data), 8)


def sha1(data):
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


ALL = {"CRC32": crc32, "CRC32C": crc32c, "CRC64NVME": crc64nvme, "SHA1": sha1, "SHA256": sha256}

# Check values from the CRC catalogue and the AWS documentation.
assert crc32c_int(b"123456789") == 0xE3069283
assert crc64nvme_int(b"123456789") == 0xAE8B14860A799888
