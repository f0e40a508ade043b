#!/usr/bin/env python3
# A minimal reader of vmtrace 3.x traces (docs/trace-format.md), standard library plus msgpack
# (Debian: python3-msgpack). Checks every checksum and decodes every record, registers included;
# prints the format, architecture, record count, last PC (x86: RIP) and how the trace ended.
# Usage: read-trace.py TRACE
import struct, sys, zlib
import msgpack

def frames(data):
    """Yields (tag, first, count, payload) per frame, checking both checksums."""
    assert data[:8] == b'\xa7vmtrace', 'not a vmtrace trace'
    at = 8
    while at < len(data):
        head = data[at:at + 32].ljust(32, b'\0')  # a cut head reads as a frame longer than the file
        first, = struct.unpack('>Q', head[4:12])
        count, crc, head_crc, length = (struct.unpack('>I', head[i:i + 4])[0] for i in (13, 18, 23, 28))
        payload = data[at + 32:at + 32 + length]
        if len(data) < at + 32 or len(payload) < length: raise EOFError(f'truncated at byte {at}')
        if head[0] != 0x96 or zlib.crc32(head[:23] + bytes(4) + head[27:]) != head_crc or zlib.crc32(payload) != crc:
            raise ValueError(f'corrupt frame at byte {at}')
        yield chr(head[2]), first, count, payload
        at += 32 + length

def uint(col, pos):  # LEB128, 7 bits a byte, low bits first; advances pos[0]
    v = shift = 0
    while col[pos[0]] & 128: v |= (col[pos[0]] & 127) << shift; shift += 7; pos[0] += 1
    pos[0] += 1
    return v | col[pos[0] - 1] << shift

header, n, t, footer = None, 0, 0, None
for tag, first, count, payload in frames(open(sys.argv[1], 'rb').read()):
    if tag == 'h':
        header = msgpack.unpackb(payload, strict_map_key=False)
        assert header['format'][0] == 3, f"format {header['format']}: not 3.x"
        arch = header.get('arch', 'x86_64')  # absent before 3.1
        nregs, sregs_bytes, pc = {'x86_64': (18, 312, 16), 'aarch64': (35, 104, 33)}[arch]
        regs = list(struct.unpack(f'<{nregs}Q', header['boot']['regs']))
    elif tag == 'r':  # ten columns, each read with its own cursor
        cols = msgpack.unpackb(zlib.decompress(payload, -15))
        pos, t = [[0] for _ in cols], 0
        assert len(cols[0]) == count and first == n, f'frame of records {first}..: out of sequence'
        for f in cols[0]:
            pos[0][0] += 1
            uint(cols[1], pos[1])  # the exit reason
            if cols[2]:  # the time: zigzag gap, plus the run time (both absent: no timestamps)
                gap, run = uint(cols[2], pos[2]), uint(cols[3], pos[3])
                t += run + (gap // 2 if gap % 2 == 0 else -(gap + 1) // 2)
            mask = uint(cols[4], pos[4])
            for i in (i for i in range(nregs) if mask >> i & 1):
                regs[i] = (regs[i] + int.from_bytes(cols[5][pos[5][0]:pos[5][0] + 8], 'little')) % 2**64
                pos[5][0] += 8
            pos[6][0] += sregs_bytes if f & 2 else 0  # sregs
            if f & 4: _, size, _, c = (uint(cols[7], pos[7]) for _ in range(4)); pos[7][0] += size * c  # io
            if f & 8: _, length, _ = (uint(cols[8], pos[8]) for _ in range(3)); pos[8][0] += length  # mmio
            if f & 16: u = msgpack.Unpacker(); u.feed(cols[9][pos[9][0]:]); u.unpack(); pos[9][0] += u.tell()
        assert all(p[0] == len(c) for p, c in zip(pos, cols[:10])), f'frame of records {first}..: bytes left over'
        n += count
    elif tag == 'e':
        footer = msgpack.unpackb(payload, strict_map_key=False)
        assert footer['records'] == n, f"footer: {footer['records']} records, the trace holds {n}"
print(f"format {header['format']}, {arch}, {n} records, last PC {regs[pc]:#x}, ended {footer['why'] if footer else 'truncated'}")
