"""Record framing of the store's files (docs/store.md): length-prefixed protobuf records, JSON lines."""

from __future__ import annotations

from analyzer import framing


def test_frame_then_iter_records_round_trips_with_offsets():
    payloads = [b"\x0a\x00", b"", b"\x0a\x01x"]
    data = b"".join(framing.frame(p) for p in payloads)
    got = [(off, bytes(p)) for off, p in framing.iter_records(data)]
    assert got == [(0, payloads[0]), (6, payloads[1]), (10, payloads[2])]
    assert data[:4] == b"\x00\x00\x00\x02"  # big-endian uint32 length, as the Collector file exporter writes


def test_iter_lines_numbers_lines_and_skips_blank_ones():
    assert list(framing.iter_lines(b'{"a":1}\n\n{"b":2}')) == [(1, 0, b'{"a":1}'), (3, 9, b'{"b":2}')]
