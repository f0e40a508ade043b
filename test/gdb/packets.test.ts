import { describe, expect, it } from 'vitest';

import { checksum, escapeBinary, frame, fromHex, PacketReader, runLengthDecode, runLengthEncode, unescapeBinary } from '../../src/replay/gdb/packets.js';

describe('gdb packet framing', () => {
  it('frames a payload with its modulo-256 checksum', () => {
    expect(frame('OK').toString('latin1')).toBe('$OK#9a');
    expect(frame('').toString('latin1')).toBe('$#00');
    expect(checksum(Buffer.from('qSupported'))).toBe(0x37);
  });

  it('run-length encodes long runs, never with # or $ as the count, and decodes them back', () => {
    expect(runLengthEncode(Buffer.from('0000')).toString('latin1')).toBe('0* ');
    expect(runLengthEncode(Buffer.from('000')).toString('latin1')).toBe('000');
    // 7 and 8 zeros would need '#' and '$': a run of 6 is encoded, the rest as it is
    expect(runLengthEncode(Buffer.from('0'.repeat(7))).toString('latin1')).toBe('0*"0');
    expect(runLengthEncode(Buffer.from('0'.repeat(8))).toString('latin1')).toBe('0*"00');
    for (const n of [1, 4, 5, 6, 7, 8, 9, 97, 98, 99, 200, 1000]) {
      const data = Buffer.from(`x${'0'.repeat(n)}y${'f'.repeat(n)}`);
      const enc = runLengthEncode(data);
      expect(enc.includes(0x23) || enc.includes(0x24)).toBe(false);
      expect(enc.every((b) => b >= 0x20 && b <= 0x7e)).toBe(true);
      expect(runLengthDecode(enc)).toEqual(data);
    }
  });

  it('does not run-length encode the bytes binary data escapes', () => {
    expect(runLengthEncode(Buffer.from('}}}}}}')).toString('latin1')).toBe('}}}}}}');
    expect(runLengthDecode(Buffer.from('*!'))).toBeUndefined();
  });

  it('escapes # $ } * in binary data and restores every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const esc = escapeBinary(all);
    for (const b of [0x23, 0x24, 0x7d, 0x2a]) expect(esc.filter((x) => x === b).length).toBe(b === 0x7d ? 4 : 0);
    expect(unescapeBinary(esc)).toEqual(Buffer.from(all));
    expect(unescapeBinary(Buffer.from('ab}'))).toBeUndefined();
  });

  it('hex strings with an odd length or other characters are refused', () => {
    expect(fromHex('0aff')).toEqual(Uint8Array.of(0x0a, 0xff));
    expect(fromHex('0af')).toBeUndefined();
    expect(fromHex('0g')).toBeUndefined();
  });
});

describe('PacketReader', () => {
  it('splits acks, interrupts and packets, also across chunks', () => {
    const r = new PacketReader();
    expect(r.push(Buffer.from('+$qC#b4\x03-$g'))).toEqual([{ kind: 'ack' }, { kind: 'packet', payload: Buffer.from('qC') }, { kind: 'interrupt' }, { kind: 'nack' }]);
    expect(r.push(Buffer.from('#6'))).toEqual([]);
    expect(r.push(Buffer.from('7'))).toEqual([{ kind: 'packet', payload: Buffer.from('g') }]);
  });

  it('reports a bad checksum as corrupt and goes on with the next packet', () => {
    const r = new PacketReader();
    expect(r.push(Buffer.from('$qC#00$qC#b4'))).toEqual([{ kind: 'corrupt' }, { kind: 'packet', payload: Buffer.from('qC') }]);
  });

  it('takes a 0x03 inside a packet as data, and expands run-length encoding', () => {
    const r = new PacketReader();
    const body = Buffer.from('X0,1:\x03');
    const bytes = Buffer.concat([Buffer.from('$'), body, Buffer.from(`#${checksum(body).toString(16).padStart(2, '0')}`)]);
    expect(r.push(bytes)).toEqual([{ kind: 'packet', payload: body }]);
    expect(r.push(frame('G' + '0'.repeat(64)))).toEqual([{ kind: 'packet', payload: Buffer.from('G' + '0'.repeat(64)) }]);
  });
});
