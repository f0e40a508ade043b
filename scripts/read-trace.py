#!/usr/bin/env python3
# A minimal reader of vmtrace format 2 traces (docs/trace-format.md), standard library plus msgpack
# (Debian: python3-msgpack). Checks every checksum; prints the format, record count and end.
# Usage: python3 scripts/read-trace.py TRACE
import struct, sys, zlib
import msgpack

def frames(path):
    """Yields (tag, first, count, payload) per frame, checking both checksums."""
    data = open(path, 'rb').read()
    if data[:8] != b'\xa7vmtrace':
        raise ValueError('not a vmtrace trace')
    at = 8
    while at < len(data):
        head = data[at:at + 32]
        if len(head) < 32:
            raise EOFError(f'truncated at byte {at}')
        first, = struct.unpack('>Q', head[4:12])
        count, crc, head_crc, length = (struct.unpack('>I', head[i:i + 4])[0] for i in (13, 18, 23, 28))
        if head[0] != 0x96 or zlib.crc32(head[:23] + bytes(4) + head[27:]) != head_crc:
            raise ValueError(f'corrupt frame head at byte {at}')
        payload = data[at + 32:at + 32 + length]
        if len(payload) < length:
            raise EOFError(f'truncated at byte {at}')
        if zlib.crc32(payload) != crc:
            raise ValueError(f'corrupt frame at byte {at}')
        yield chr(head[2]), first, count, payload
        at += 32 + length

header, records, footer = None, [], None
for tag, first, count, payload in frames(sys.argv[1]):
    if tag == 'h':
        header = msgpack.unpackb(payload, strict_map_key=False)
    elif tag == 'r':
        unpacker = msgpack.Unpacker(strict_map_key=False)
        unpacker.feed(payload)
        records += [r for r in unpacker]
        assert len(records) == first + count and records[-1]['n'] == first + count - 1
    elif tag == 'e':
        footer = msgpack.unpackb(payload, strict_map_key=False)
print(f"format {header['format']}, {len(records)} records, ended {footer['why'] if footer else 'truncated'}")
